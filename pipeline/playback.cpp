// pipeline/playback.cpp: see playback.h.
#include "pipeline/playback.h"

#include <algorithm>

#include "base/files.h"
#include "encode/melody_file.h"
#include "encode/melody_song.h"
#include "midi/writer.h"
#include "pipeline/extract_run.h"

namespace melodl::pipeline {

namespace fs = std::filesystem;

namespace {

void write_song(const fs::path& dir, const std::string& stem, const midi::Song& song,
                WavRenderer* renderer, double wav_seconds) {
  ensure_directory(dir);
  midi::write_file(dir / (stem + ".mid"), song);
  if (renderer) renderer->render(song, dir / (stem + ".wav"), wav_seconds);
}

}  // namespace

std::string generated_lines_file(LineKind kind, const std::vector<GeneratedLine>& lines) {
  const bool harmony = kind == LineKind::harmony;
  std::string out =
      (harmony ? harmonies_header("native") : encode::melodies_header("native")) + "\n";
  for (const auto& l : lines) {
    if (harmony)
      out += "// source=" + l.source + "\n";
    else
      out += "// track=0 channel=0 program=" + std::to_string(l.program) +
             " voice=top start_pitch=" + std::to_string(l.start_pitch) +
             " unit_ticks=60 unit_s=0.075 source=" + l.source + "\n";
    out += l.text + "\n";
  }
  return out;
}

bool write_playback(const fs::path& dir, const std::string& stem,
                    const encode::SymbolMelody& melody, const PlaybackOptions& o,
                    WavRenderer* renderer) {
  if (melody.steps.empty()) return false;
  encode::MelodySongOptions so;
  so.program = o.program;
  so.start_pitch = o.start_pitch;
  so.bpm = o.bpm;
  so.name = stem;
  write_song(dir, stem, encode::melody_to_song(melody, so), renderer, 60.0);
  return true;
}

bool write_playback(const fs::path& dir, const std::string& stem,
                    const encode::SymbolHarmony& harmony, const PlaybackOptions& o,
                    WavRenderer* renderer) {
  const auto onset = [](const auto& s) { return s.onset; };
  if (std::none_of(harmony.lower.begin(), harmony.lower.end(), onset) &&
      std::none_of(harmony.upper.begin(), harmony.upper.end(), onset))
    return false;
  encode::HarmonyRenderOptions ro;
  ro.programs = {o.program, o.upper_program};
  ro.ticks_per_step = o.step_seconds / ro.seconds_per_tick;
  write_song(dir, stem, encode::harmony_to_song(harmony, ro), renderer, 180.0);
  return true;
}

bool write_playback(const fs::path& dir, const std::string& stem, const Composition& piece,
                    LineKind kind, const PlaybackOptions& options, WavRenderer* renderer) {
  return kind == LineKind::harmony
             ? write_playback(dir, stem, piece.harmony.harmony, options, renderer)
             : write_playback(dir, stem, piece.decoded.melody, options, renderer);
}

}  // namespace melodl::pipeline
