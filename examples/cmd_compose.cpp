// examples/cmd_compose.cpp: `melodl compose CHECKPOINT`: new melodies (or two-part
// harmonies, for a model trained with --harmonies) from a trained network (a checkpoint
// file or a run directory), sampled with the native grammar as a mask so every line
// decodes (--unconstrained turns the mask off), written as MIDI (and WAV) files plus
// compositions.txt in the extract format (readable by render/match). A harmony model can
// also accompany a melody: --accompany FILE.mid composes a lower voice under a voice of
// that file, step by step. Sampling lives in pipeline/composing.h.
// Docs: docs/training.md, docs/cli.md.
// Usage: melodl compose runs/bach --count 8 --temperature 0.9 -o out --wav
//        melodl compose --model bach -o out --wav     (a shipped model, pipeline/models.h)
//        melodl compose runs/bach-harmonies --accompany tune.mid -o duet --wav
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/files.h"
#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/flags.h"
#include "examples/train_flags.h"
#include "midi/reader.h"
#include "pipeline/audio.h"
#include "pipeline/composing.h"
#include "pipeline/playback.h"

namespace {

using melodl::cli::add_in_range;

namespace fs = std::filesystem;
namespace pl = melodl::pipeline;
using melodl::cli::Error;
using melodl::cli::UsageError;

struct ComposeArgs {
  std::string checkpoint;
  std::string model;           // --model NAME: a shipped model
  std::string which = "best";  // --checkpoint best|latest
  int count = 8;
  int length = 500;
  float temperature = 1.0f;
  int top_k = 0;
  std::uint64_t seed = 1;
  std::string prime;
  std::string style;  // --style: of a style-conditioned model
  std::string prime_midi;
  int prime_notes = 8;
  int program = 0;
  int upper_program = 24;
  std::string accompany;
  int accompany_voice = -1;
  double step_ms = 62.5;
  double tempo = 100.0;
  int start_pitch = 60;
  std::string output = "compositions";
  bool wav = false;
  bool unconstrained = false;
  bool quiet = false;
  CLI::Option* start_pitch_opt = nullptr;
  CLI::Option* length_opt = nullptr;
};

// The voice of a MIDI file to accompany, sampled on the harmony grid (1/16 s through the
// tempo map, or step_ms), pitches folded into the harmony range.
std::vector<melodl::encode::HarmonySample> voice_to_accompany(const ComposeArgs& a, bool quiet) {
  auto song = melodl::midi::read_file(a.accompany);
  if (!song) throw Error(std::string(song.error().what()));
  melodl::encode::HarmonyOptions opt;
  opt.step_seconds = a.step_ms / 1000.0;
  const auto voices = melodl::encode::split_voices(*song, opt);
  if (voices.empty()) throw Error(a.accompany + ": no notes to accompany (percussion only?)");
  const int k = a.accompany_voice < 0 ? static_cast<int>(voices.size()) - 1 : a.accompany_voice;
  if (k >= static_cast<int>(voices.size()))
    throw UsageError("--accompany-voice " + std::to_string(k) + ": " + a.accompany + " has " +
                     std::to_string(voices.size()) + " voices (0 = lowest)");
  const auto& v = voices[static_cast<std::size_t>(k)];
  auto samples = melodl::encode::sample_voice(*song, v.notes, opt);
  if (samples.empty()) throw Error(a.accompany + ": the chosen voice has no notes");
  if (!quiet)
    std::printf(
        "melodl compose: accompanying voice %d of %zu of %s (%zu notes, program %d, mean pitch "
        "%.1f): %zu steps of %.1f ms\n",
        k, voices.size(), a.accompany.c_str(), v.notes.size(), v.program, v.mean_pitch,
        samples.size(), a.step_ms);
  return samples;
}

// Samples with the options; a bad option (prime, length, accompaniment) is a usage error.
std::vector<pl::Composition> compose_pieces(const melodl::lstm::Network& net,
                                            const pl::Vocabulary& vocab,
                                            const pl::ComposeOptions& o, pl::ComposeStats& stats) {
  try {
    return pl::compose(net, vocab, o, &stats);
  } catch (const melodl::lstm::InvalidArgument&) {
    throw;  // the LSTM library's own contract checks (e.g. --temperature) stay errors: exit 1
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }
}

pl::ComposeOptions common_options(const ComposeArgs& a) {
  pl::ComposeOptions o;
  o.count = a.count;
  o.length = a.length;
  o.temperature = a.temperature;
  o.top_k = a.top_k;
  o.seed = a.seed;
  o.constrained = !a.unconstrained;
  o.prime = a.prime;
  o.style = a.style;
  return o;
}

// A melody model's sampling options; --prime-midi may set the start pitch.
pl::ComposeOptions melody_options(const ComposeArgs& a, const fs::path& model, int& start_pitch) {
  if (!a.accompany.empty())
    throw UsageError("--accompany needs a harmony model (melodl train --harmonies); " +
                     model.string() + " models melodies");
  pl::ComposeOptions o = common_options(a);
  if (!a.prime_midi.empty()) {
    auto song = melodl::midi::read_file(a.prime_midi);
    if (!song) throw Error(std::string(song.error().what()));
    const auto res = melodl::encode::extract_melodies(*song);
    if (res.melodies.empty())
      throw Error(a.prime_midi + ": no melody could be extracted for --prime-midi");
    o.prime = pl::prime_from_melody(res.melodies.front().symbols,
                                    static_cast<std::size_t>(a.prime_notes));
    if (!a.start_pitch_opt->count()) start_pitch = res.melodies.front().start_pitch;
  }
  return o;
}

// A harmony model's: two-part harmonies, or an accompaniment under --accompany's voice.
pl::ComposeOptions harmony_options(const ComposeArgs& a) {
  if (!a.prime_midi.empty())
    throw UsageError(
        "--prime-midi primes melody models; for a harmony model give --prime (native harmony "
        "symbols) or --accompany FILE.mid");
  if (!(a.step_ms > 0)) throw UsageError("--step-ms must be positive");
  pl::ComposeOptions o = common_options(a);
  o.length = a.length_opt->count() ? a.length : 2000;
  if (!a.accompany.empty()) {
    if (a.unconstrained) throw UsageError("--accompany cannot be --unconstrained");
    o.accompany = voice_to_accompany(a, a.quiet);
    o.length = static_cast<int>(2 * o.accompany.size() + 1);
  }
  return o;
}

// Writes each piece as <word>-NN.mid (and .wav with --wav) and all of them as
// compositions.txt; returns the MIDI files written.
std::size_t write_pieces(const ComposeArgs& a, const std::vector<pl::Composition>& pieces,
                         pl::LineKind kind, const pl::PlaybackOptions& playback, const char* word) {
  const fs::path dir(a.output);
  melodl::ensure_directory(dir);
  melodl::remove_stale_temp_files(dir);  // of a compose killed while writing here
  std::unique_ptr<pl::WavRenderer> renderer;
  if (a.wav) renderer = std::make_unique<pl::WavRenderer>(pl::find_soundfont());
  std::vector<pl::GeneratedLine> lines;
  std::size_t written = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    char stem[32];
    std::snprintf(stem, sizeof stem, "%s-%02zu", word, i + 1);
    if (pl::write_playback(dir, stem, pieces[i], kind, playback, renderer.get())) ++written;
    lines.push_back(
        {pieces[i].text, std::string("compose ") + stem, playback.program, playback.start_pitch});
  }
  melodl::write_file_atomic(dir / "compositions.txt", pl::generated_lines_file(kind, lines));
  return written;
}

void print_summary(const ComposeArgs& a, const pl::LoadedModel& model, const pl::ComposeOptions& o,
                   const pl::ComposeStats& stats, const std::vector<pl::Composition>& pieces,
                   std::size_t written) {
  const bool harmony = model.vocab.kind() == pl::LineKind::harmony;
  const char* what = !harmony              ? "melodies"
                     : o.accompany.empty() ? "two-part harmonies"
                                           : "accompaniments";
  std::printf("melodl compose: %zu %s from %s (%s%s sampling, temperature %g%s)\n", pieces.size(),
              what, model.path.c_str(), o.style.empty() ? "" : ("style " + o.style + ", ").c_str(),
              o.constrained ? "grammar-constrained" : "unconstrained", a.temperature,
              a.top_k > 0 ? (", top-k " + std::to_string(a.top_k)).c_str() : "");
  std::printf("  decoded cleanly: %zu/%zu; symbols skipped by the decoder: %zu of %zu generated",
              stats.clean, stats.melodies, stats.skipped, stats.symbols);
  if (harmony) {
    std::size_t steps = 0;
    for (const auto& p : pieces) steps += p.harmony.harmony.steps();
    std::printf("; %zu steps (%.1f s) in all", steps,
                static_cast<double>(steps) * a.step_ms / 1000.0);
  }
  if (o.constrained)
    std::printf("; draws whose most likely symbol the grammar masked: %zu", stats.masked);
  const fs::path list = fs::path(a.output) / "compositions.txt";
  const char* wav = a.wav ? " + WAV" : "";
  if (harmony) {
    std::printf("\n  wrote %zu two-track MIDI%s files (lower voice program %d, upper %d) and %s\n",
                written, wav, a.program, a.upper_program, list.c_str());
    return;
  }
  std::printf("\n  wrote %zu MIDI%s files and %s\n", written, wav, list.c_str());
  std::printf(
      "  listen: aplay %s/melody-01.wav  (or: fluidsynth -a alsa -i "
      "/usr/share/sounds/sf2/FluidR3_GM.sf2 %s/melody-01.mid)\n",
      a.output.c_str(), a.output.c_str());
}

int run_compose(const ComposeArgs& a) {
  if (!a.prime.empty() && !a.prime_midi.empty())
    throw UsageError("give --prime or --prime-midi, not both");
  const pl::LoadedModel model = pl::load_model(
      melodl::cli::model_location(a.checkpoint, a.model),
      [&](const std::string& s) {
        if (!a.quiet)
          std::fprintf(stderr, "melodl: warning: passing over checkpoint %s\n", s.c_str());
      },
      melodl::cli::checkpoint_choice(a.which));
  const melodl::lstm::Network net = model.checkpoint.make_network();
  const pl::LineKind kind = model.vocab.kind();
  pl::PlaybackOptions playback;
  playback.program = a.program;
  playback.upper_program = a.upper_program;
  playback.start_pitch = a.start_pitch;
  playback.bpm = a.tempo;
  playback.step_seconds = a.step_ms / 1000.0;
  const pl::ComposeOptions o = kind == pl::LineKind::harmony
                                   ? harmony_options(a)
                                   : melody_options(a, model.path, playback.start_pitch);
  pl::ComposeStats stats;
  const std::vector<pl::Composition> pieces = compose_pieces(net, model.vocab, o, stats);
  const char* word = kind == pl::LineKind::melody ? "melody"
                     : o.accompany.empty()        ? "harmony"
                                                  : "duet";
  const std::size_t written = write_pieces(a, pieces, kind, playback, word);
  if (!a.quiet) print_summary(a, model, o, stats, pieces, written);
  if (written == 0)
    throw Error(std::string("no ") + (kind == pl::LineKind::melody ? "melody" : "harmony") +
                " decoded to a playable note");
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<ComposeArgs>();
  melodl::cli::add_model_source(sub, a->checkpoint, a->model);
  melodl::cli::add_checkpoint_choice(sub, a->which);
  melodl::cli::add_style_choice(sub, a->style);
  add_in_range(sub, "--count", a->count, "Melodies to compose", 1, 100000);
  a->length_opt = sub.add_option("--length", a->length,
                                 "Most symbols per melody (harmony models: default 2000 = 1000 "
                                 "steps of both voices)")
                      ->capture_default_str()
                      ->check(CLI::Range(4, 1000000));
  sub.add_option("--temperature", a->temperature, "Sampling temperature (0 = greedy)")
      ->capture_default_str();
  sub.add_option("--top-k", a->top_k, "Draw from the k most likely symbols (0 = all)")
      ->capture_default_str();
  sub.add_option("--seed", a->seed, "Sampling seed")->capture_default_str();
  sub.add_option("--prime", a->prime, "Native symbols to start every melody with, e.g. \"<8M8O8\"");
  sub.add_option("--prime-midi", a->prime_midi,
                 "Start with the first notes of the first melody of this MIDI file");
  sub.add_option("--prime-notes", a->prime_notes, "Notes taken from --prime-midi")
      ->capture_default_str();
  add_in_range(sub, "--program", a->program,
               "General MIDI instrument 0..127 (harmony models: of the lower voice)", 0, 127);
  add_in_range(sub, "--upper-program", a->upper_program,
               "Harmony models: General MIDI instrument of the upper voice", 0, 127);
  sub.add_option("--accompany", a->accompany,
                 "Harmony models: compose a lower voice under a voice of this MIDI file (the "
                 "given voice is fed to the network step by step, as the original's live duet)");
  sub.add_option("--accompany-voice", a->accompany_voice,
                 "Which voice of --accompany (0 = lowest; default the highest)");
  sub.add_option("--step-ms", a->step_ms,
                 "Harmony models: milliseconds per step when sampling --accompany and playing "
                 "(the training grid is 62.5)")
      ->capture_default_str();
  add_in_range(sub, "--tempo", a->tempo, "Beats per minute (8 duration units = a beat)", 10.0,
               600.0);
  a->start_pitch_opt =
      add_in_range(sub, "--start-pitch", a->start_pitch, "MIDI pitch of the first note", 0, 127);
  sub.add_option("-o,--output", a->output, "Output directory")->capture_default_str();
  sub.add_flag("--wav", a->wav, "Also render WAV files (fluidsynth)");
  sub.add_flag("--unconstrained", a->unconstrained, "Do not mask symbols that break the grammar");
  sub.add_flag("-q,--quiet", a->quiet, "No summary");
  return [a] { return run_compose(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(compose, "compose", "Compose melodies with a trained network", setup);
