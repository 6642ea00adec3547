// examples/cmd_render.cpp: `melodl render`: a melodies text file -> one MIDI file
// per melody (melody-0001.mid, ...), and with --wav a WAV file each, rendered with
// fluidsynth and a General MIDI soundfont. Instrument and start pitch come from each
// melody's provenance comment unless given as flags; invalid symbols are skipped
// and counted. A harmonies file (`melodl extract --harmonies`, or a harmony model's
// compositions) gives one two-track file per harmony (harmony-0001.mid, ...).
// Usage: melodl render out/melodies.txt -o out/midi --limit 8 --wav
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "base/files.h"
#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody_file.h"
#include "encode/melody_song.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/flags.h"
#include "examples/progress.h"
#include "midi/writer.h"
#include "pipeline/audio.h"
#include "pipeline/playback.h"

namespace encode = melodl::encode;
namespace pipeline = melodl::pipeline;

namespace {

using melodl::cli::add_in_range;

namespace fs = std::filesystem;

struct RenderArgs {
  std::string input;
  std::string output_dir = "melodies-midi";
  std::string format = "auto";
  double tempo = 100.0;
  int program = 0;
  int upper_program = 24;
  double step_ms = 62.5;
  int start_pitch = 60;
  double unit_ticks = 60.0;
  bool source_timing = false;
  std::size_t limit = 0;
  bool wav = false;
  double wav_seconds = 30.0;
  std::string soundfont;
  bool quiet = false;
  // Set when the flag was given: it then overrides the provenance comments.
  CLI::Option* program_opt = nullptr;
  CLI::Option* start_pitch_opt = nullptr;
  CLI::Option* format_opt = nullptr;
};

// "<word>-0001<ext>": the line's position, at least 4 digits.
std::string numbered_name(const char* word, std::size_t index, std::size_t total, const char* ext) {
  const std::size_t width = std::max<std::size_t>(4, std::to_string(total).size());
  std::string digits = std::to_string(index);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return word + ("-" + digits) + ext;
}

// The output directory (created), and the WAV renderer with --wav.
struct Output {
  fs::path dir;
  fs::path soundfont;
  std::unique_ptr<pipeline::WavRenderer> renderer;
};

Output prepare_output(const RenderArgs& a) {
  Output out{a.output_dir, {}, nullptr};
  melodl::ensure_directory(out.dir);
  if (a.wav) {
    out.soundfont = pipeline::find_soundfont(a.soundfont);
    out.renderer = std::make_unique<pipeline::WavRenderer>(out.soundfont);
  }
  return out;
}

// Renders the first --limit lines, render(i, line) each, under a progress bar (render returns
// the name it shows); returns how many.
template <class Render>
std::size_t render_lines(const RenderArgs& a, const encode::MelodyFile& file, Render render) {
  const std::size_t count =
      a.limit == 0 ? file.melodies.size() : std::min(a.limit, file.melodies.size());
  melodl::cli::Progress progress("render", count, a.quiet);
  for (std::size_t i = 0; i < count; ++i) progress.update(i + 1, render(i, file.melodies[i]));
  progress.finish();
  return count;
}

// A harmonies file: one two-track MIDI (and WAV) file per harmony.
int render_harmonies(const RenderArgs& a, const encode::MelodyFile& file) {
  const melodl::encode::HarmonyCodec* codec = nullptr;
  try {
    codec = &melodl::encode::harmony_codec_by_name(file.format.empty() ? "native" : file.format);
  } catch (const std::exception&) {
    throw melodl::cli::Error(a.input + ": unknown harmony format '" + file.format + "'");
  }
  if (!(a.step_ms > 0)) throw melodl::cli::UsageError("--step-ms must be positive");
  const Output out = prepare_output(a);
  pipeline::PlaybackOptions o;
  o.program = a.program;
  o.upper_program = a.upper_program;
  o.step_seconds = a.step_ms / 1000.0;
  std::size_t written = 0, skipped = 0;
  render_lines(a, file, [&](std::size_t i, const encode::MelodyRecord& rec) {
    const auto dec = codec->decode(rec.text);
    skipped += dec.skipped + dec.substituted;
    const std::string stem = numbered_name("harmony", i + 1, file.melodies.size(), "");
    if (pipeline::write_playback(out.dir, stem, dec.harmony, o, out.renderer.get())) ++written;
    return stem;
  });
  if (!a.quiet) {
    std::printf(
        "melodl render: %zu two-part harmonies rendered to %s (two tracks: lower program %d, "
        "upper %d; %.1f ms per step): %zu MIDI%s\n",
        written, out.dir.c_str(), o.program, o.upper_program, a.step_ms, written,
        out.renderer ? " + WAV files" : " files");
    if (skipped > 0) std::printf("  skipped or substituted %zu invalid symbols\n", skipped);
    std::fflush(stdout);
  }
  if (written == 0) throw melodl::cli::Error("no playable harmony in " + a.input);
  return 0;
}

// The song of one melody: instrument, start pitch and timing from the flags or its comment.
melodl::midi::Song melody_song(const RenderArgs& a, const encode::MelodyRecord& rec,
                               const encode::SymbolMelody& melody, std::size_t index) {
  encode::MelodySongOptions o;
  o.bpm = a.tempo;
  o.program = a.program;
  if (!a.program_opt->count() && rec.meta.program >= 0) o.program = rec.meta.program;
  o.start_pitch = a.start_pitch;
  if (!a.start_pitch_opt->count() && rec.meta.start_pitch >= 0)
    o.start_pitch = rec.meta.start_pitch;
  o.ticks_per_unit = a.unit_ticks;
  if (a.source_timing && rec.meta.unit_s > 0.0) {
    // Seconds per unit at the source -> ticks at our tempo and PPQ.
    o.ticks_per_unit = std::clamp(rec.meta.unit_s * a.tempo * o.ppq / 60.0, 1.0, 4800.0);
  }
  o.name = "melody " + std::to_string(index);
  if (!rec.meta.source.empty()) o.name += " from " + rec.meta.source;
  return encode::melody_to_song(melody, o);
}

int run_render(const RenderArgs& a) {
  const encode::MelodyFile file = encode::read_melody_file(a.input);
  if (file.melodies.empty()) throw melodl::cli::Error("no melodies in " + a.input);
  if (file.harmonies) return render_harmonies(a, file);

  std::string format = a.format;
  if (format == "auto") {
    format = file.format.empty() ? "native" : file.format;
  } else if (!file.format.empty() && file.format != format) {
    std::fprintf(stderr, "melodl render: warning: %s says format=%s; decoding as %s (--format)\n",
                 a.input.c_str(), file.format.c_str(), format.c_str());
  }
  const melodl::encode::Codec* codec = nullptr;
  try {
    codec = &melodl::encode::codec_by_name(format);
  } catch (const std::exception&) {
    throw melodl::cli::Error(a.input + ": unknown melody format '" + format +
                             "' (expected native or melodl4j-v1; use --format)");
  }

  const Output out = prepare_output(a);
  std::size_t written = 0, empty = 0, skipped_symbols = 0, melodies_with_skips = 0, notes = 0;
  const std::size_t total = file.melodies.size();
  const std::size_t count = render_lines(a, file, [&](std::size_t i, const auto& rec) {
    const melodl::encode::DecodeResult dec = codec->decode(rec.text);
    skipped_symbols += dec.skipped;
    if (dec.skipped > 0) ++melodies_with_skips;
    if (dec.melody.steps.empty()) {
      ++empty;
      return std::string();
    }
    const melodl::midi::Song song = melody_song(a, rec, dec.melody, i + 1);
    notes += song.note_count();
    melodl::midi::write_file(out.dir / numbered_name("melody", i + 1, total, ".mid"), song);
    if (out.renderer)
      out.renderer->render(song, out.dir / numbered_name("melody", i + 1, total, ".wav"),
                           a.wav_seconds);
    ++written;
    return numbered_name("melody", i + 1, total, ".mid");
  });

  if (!a.quiet) {
    std::printf("melodl render: %zu melodies rendered (%zu notes) to %s: %zu MIDI%s\n", written,
                notes, out.dir.c_str(), written, out.renderer ? " + WAV files" : " files");
    if (out.renderer) std::printf("  soundfont: %s\n", out.soundfont.c_str());
    if (skipped_symbols > 0)
      std::printf("  skipped %zu invalid symbols in %zu melodies\n", skipped_symbols,
                  melodies_with_skips);
    if (empty > 0) std::printf("  %zu melodies had no valid notes and were not written\n", empty);
    if (count < total) std::printf("  (first %zu of %zu melodies; --limit)\n", count, total);
    std::fflush(stdout);
  }
  if (written == 0) throw melodl::cli::Error("no playable melody in " + a.input);
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<RenderArgs>();
  sub.footer(
      "Files are named melody-NNNN.mid (and .wav) after the melody's position in the input. "
      "Play them with any MIDI player, e.g. `fluidsynth -i /usr/share/sounds/sf2/FluidR3_GM.sf2 "
      "out/melody-0001.mid` or `aplay out/melody-0001.wav`.");
  sub.add_option("input", a->input, "Melodies file written by `melodl extract` (or compose)")
      ->required();
  sub.add_option("-o,--output", a->output_dir, "Directory for the MIDI (and WAV) files")
      ->capture_default_str();
  a->format_opt = sub.add_option("--format", a->format,
                                 "Melody string format: auto (from the file's header comment, "
                                 "else native), native or melodl4j-v1")
                      ->check(CLI::IsMember({"auto", "native", "melodl4j-v1"}))
                      ->capture_default_str();
  add_in_range(sub, "--tempo", a->tempo, "Tempo in quarter notes per minute", 10.0, 600.0);
  a->program_opt = sub.add_option("--program", a->program,
                                  "General MIDI program 0..127 for every melody (default: the "
                                  "melody's comment, else 0 = piano)")
                       ->check(CLI::Range(0, 127));
  add_in_range(sub, "--upper-program", a->upper_program,
               "Harmonies files: General MIDI program of the upper voice (--program: the "
               "lower; default piano and nylon guitar, as the original)",
               0, 127);
  sub.add_option("--step-ms", a->step_ms,
                 "Harmonies files: milliseconds per step (the extraction grid is 62.5)")
      ->capture_default_str();
  a->start_pitch_opt = sub.add_option("--start-pitch", a->start_pitch,
                                      "MIDI pitch of the first note (default: the melody's "
                                      "comment, else 60 = middle C)")
                           ->check(CLI::Range(0, 127));
  add_in_range(sub, "--unit-ticks", a->unit_ticks,
               "Ticks (480 per quarter note) per duration unit; 60 = a 32nd note, so the "
               "average note (8 units) is a quarter",
               1.0, 4800.0);
  sub.add_flag("--source-timing", a->source_timing,
               "Play each melody at its source's speed (unit_s of its comment) instead of "
               "--unit-ticks");
  sub.add_option("--limit", a->limit, "Render only the first N melodies (0 = all)")
      ->capture_default_str();
  sub.add_flag("--wav", a->wav, "Also render each melody to a WAV file with fluidsynth");
  add_in_range(sub, "--wav-seconds", a->wav_seconds,
               "Length limit of each WAV in seconds, faded out at the end (0 = the whole "
               "melody; MIDI files always hold the whole melody)",
               0.0, 3600.0);
  sub.add_option("--soundfont", a->soundfont,
                 "SoundFont (.sf2/.sf3) for --wav (default: the General MIDI soundfont of "
                 "Debian's fluid-soundfont-gm)");
  sub.add_flag("-q,--quiet", a->quiet, "No progress and no summary");
  return [a] { return run_render(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(render, "render",
                        "Render melodies to MIDI files (and WAV audio with --wav)", setup);
