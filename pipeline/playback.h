// pipeline/playback.h: generated lines (melodies or two-part harmonies, from `melodl train`'s
// epoch samples and `melodl compose`) as files: a melodies / harmonies file that `render`,
// `match` and `train` read back, and one MIDI file per line (a two-track file for a
// harmony), plus a WAV file each when a renderer is given. Tests: tests/cli/cli_test.cpp,
// tests/pipeline/run_test.cpp (through the commands).
//
// Example:
//   melodl::pipeline::PlaybackOptions o;  o.program = 40;
//   melodl::pipeline::write_playback("out", "melody-01", piece, LineKind::melody, o, nullptr);
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/harmony.h"
#include "pipeline/audio.h"
#include "pipeline/composing.h"
#include "pipeline/corpus.h"

namespace melodl::pipeline {

struct GeneratedLine {
  std::string text;    // native line
  std::string source;  // provenance, e.g. "compose melody-03" or "train epoch 2 sample 1"
  int program = 0;     // melodies: their provenance comment's instrument and first pitch
  int start_pitch = 60;
};

// A melodies file (header, then a provenance comment and the line for each) or, with
// kind == harmony, a harmonies file (header, then "// source=..." and the line for each).
std::string generated_lines_file(LineKind kind, const std::vector<GeneratedLine>& lines);

struct PlaybackOptions {
  int program = 0;               // General MIDI program of a melody / of a harmony's lower voice
  int upper_program = 24;        // of a harmony's upper voice (nylon guitar, as the original)
  int start_pitch = 60;          // melodies: MIDI pitch of the first note
  double bpm = 100.0;            // melodies: tempo (8 duration units = a beat)
  double step_seconds = 0.0625;  // harmonies: one step (the extraction grid: 1/16 s)
};

// Writes <dir>/<stem>.mid (a melody: one track; a harmony: lower voice on track/channel 0,
// upper on 1) and <stem>.wav when renderer is set (the first 60 s of a melody, 180 s of a
// harmony); creates dir. Returns false, writing nothing, for a line without a note.
bool write_playback(const std::filesystem::path& dir, const std::string& stem,
                    const encode::SymbolMelody& melody, const PlaybackOptions& options,
                    WavRenderer* renderer);
bool write_playback(const std::filesystem::path& dir, const std::string& stem,
                    const encode::SymbolHarmony& harmony, const PlaybackOptions& options,
                    WavRenderer* renderer);
// A composition of a model of `kind`: its decoded melody or harmony.
bool write_playback(const std::filesystem::path& dir, const std::string& stem,
                    const Composition& piece, LineKind kind, const PlaybackOptions& options,
                    WavRenderer* renderer);

}  // namespace melodl::pipeline
