// examples/cmd_train.cpp: `melodl train`: melodies (a file from `melodl extract`, or MIDI
// files and folders extracted on the fly) -> a trained LSTM in a run directory, with a
// progress bar, validation bits per symbol/note and sample melodies (MIDI, WAV) after every
// epoch, rotating checkpoints, clean stop on SIGINT/SIGTERM and --resume. Also defines the
// helpers of cmd_train.h that compose and eval share. The training loop itself is
// pipeline/training.h. Docs: docs/training.md.
// Usage: melodl train melodies.txt --time-budget 10m --run-dir runs/bach
#include "examples/cmd_train.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/files.h"
#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody_file.h"
#include "encode/melody_song.h"
#include "eval/harmony_match.h"
#include "eval/match.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/cuda_options.h"
#include "examples/progress.h"
#include "lstm/trainer.h"
#include "midi/files.h"
#include "midi/writer.h"
#include "pipeline/audio.h"
#include "pipeline/extract_run.h"
#include "pipeline/training.h"
#include "web/server.h"

namespace encode = melodl::encode;
namespace eval = melodl::eval;
namespace pipeline = melodl::pipeline;

namespace melodl::cli {

namespace fs = std::filesystem;

pipeline::LineKind input_kind(const std::string& input) {
  std::error_code ec;
  if (fs::is_directory(input, ec) || midi::has_midi_extension(input) || !fs::exists(input, ec))
    return pipeline::LineKind::melody;
  return encode::read_melody_file(input).harmonies ? pipeline::LineKind::harmony
                                                   : pipeline::LineKind::melody;
}

std::vector<pipeline::CorpusEntry> load_corpus_entries(const std::vector<std::string>& inputs,
                                                       unsigned jobs, bool quiet,
                                                       pipeline::LineKind kind) {
  const bool harmony = kind == pipeline::LineKind::harmony;
  std::vector<pipeline::CorpusEntry> entries;
  std::vector<std::string> midi_inputs;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (!fs::exists(in, ec)) throw Error(in + ": no such file or directory");
    if (fs::is_directory(in, ec) || midi::has_midi_extension(in)) {
      midi_inputs.push_back(in);
      continue;
    }
    const encode::MelodyFile file = encode::read_melody_file(in);
    if (file.harmonies && !harmony)
      throw Error(in +
                  ": a harmonies file (from `melodl extract --harmonies`); train on it with "
                  "`melodl train --harmonies`");
    if (harmony && !file.harmonies && !file.format.empty())
      throw Error(in +
                  ": a melodies file, not harmonies (make one with `melodl extract "
                  "--harmonies`)");
    if (!harmony && !file.format.empty() && file.format != "native")
      throw Error(in + ": melodies in format " + file.format +
                  "; training needs the native format (melodl extract --format native)");
    const encode::HarmonyCodec* codec = nullptr;
    if (harmony) {
      std::string format = file.format;
      if (format.empty()) {
        const bool native =
            std::any_of(file.melodies.begin(), file.melodies.end(),
                        [](const auto& r) { return r.text.find('<') != std::string::npos; });
        format = native ? "native" : "original-harmony";
      }
      try {
        codec = &encode::harmony_codec_by_name(format);
      } catch (const melodl::InvalidArgument&) {
        throw Error(in + ": harmonies in unknown format '" + format +
                    "' (native or original-harmony)");
      }
    }
    for (const auto& r : file.melodies) {
      pipeline::CorpusEntry e;
      e.source = r.meta.source.empty() ? in : r.meta.source;
      e.kind = kind;
      e.text = r.text;
      if (codec && codec != &encode::native_harmony_codec()) {
        // The original format: read it (rests are spaces, so the line is used untrimmed)
        // and store the native line.
        const auto d = codec->decode(r.text);
        if (d.harmony.steps() == 0) continue;
        e.text = encode::native_harmony_codec().encode(d.harmony);
      }
      e.program = r.meta.program;
      e.start_pitch = r.meta.start_pitch;
      entries.push_back(std::move(e));
    }
  }
  if (!midi_inputs.empty()) {
    const auto files = midi::find_midi_files(midi_inputs);
    Progress bar("extract", std::max<std::size_t>(1, files.size()), quiet);
    std::atomic<std::size_t> done{0};
    const auto report = [&](std::size_t, const std::string& s) { bar.update(++done, s); };
    if (harmony) {
      const auto outcomes =
          pipeline::extract_harmony_files(files, {}, encode::native_harmony_codec(), jobs, report);
      bar.finish();
      for (const auto& o : outcomes) {
        if (!o.ok) {
          if (!quiet)
            std::fprintf(stderr, "melodl: skipping %s: %s\n", o.source.c_str(), o.error.c_str());
          continue;
        }
        for (const auto& line : o.lines)
          entries.push_back({o.source, line, -1, -1, pipeline::LineKind::harmony});
      }
      return entries;
    }
    const auto outcomes = pipeline::extract_files(files, {}, encode::native_codec(), jobs, report);
    bar.finish();
    for (const auto& o : outcomes) {
      if (!o.ok) {
        if (!quiet)
          std::fprintf(stderr, "melodl: skipping %s: %s\n", o.source.c_str(), o.error.c_str());
        continue;
      }
      for (std::size_t i = 0; i < o.melodies.size(); ++i) {
        const encode::MelodyMeta meta = encode::parse_provenance(o.comments[i]);
        entries.push_back({o.source, o.melodies[i], meta.program, meta.start_pitch});
      }
    }
  }
  return entries;
}

pipeline::Corpus load_corpus(const std::vector<std::string>& inputs, unsigned jobs, bool quiet,
                             pipeline::LineKind kind) {
  auto corpus = pipeline::Corpus::from_entries(load_corpus_entries(inputs, jobs, quiet, kind));
  if (corpus.melodies().empty()) {
    std::string names;
    for (const auto& i : inputs) names += (names.empty() ? "" : ", ") + i;
    throw Error("no usable " +
                std::string(kind == pipeline::LineKind::harmony ? "harmonies" : "melodies") +
                " in " + names + " (empty corpus)");
  }
  return corpus;
}

std::string melodies_file_text(const std::vector<GeneratedMelody>& melodies) {
  std::string out = encode::melodies_header("native") + "\n";
  for (const auto& m : melodies) {
    out += "// track=0 channel=0 program=" + std::to_string(m.program) +
           " voice=top start_pitch=" + std::to_string(m.start_pitch) +
           " unit_ticks=60 unit_s=0.075 source=" + m.source + "\n";
    out += m.text + "\n";
  }
  return out;
}

bool write_playback(const fs::path& dir, const std::string& stem,
                    const encode::SymbolMelody& melody, const PlaybackOptions& o,
                    pipeline::WavRenderer* renderer) {
  if (melody.steps.empty()) return false;
  encode::MelodySongOptions so;
  so.program = o.program;
  so.start_pitch = o.start_pitch;
  so.bpm = o.bpm;
  so.name = stem;
  const midi::Song song = encode::melody_to_song(melody, so);
  ensure_directory(dir);
  midi::write_file(dir / (stem + ".mid"), song);
  if (renderer) renderer->render(song, dir / (stem + ".wav"), 60.0);
  return true;
}

std::string harmonies_file_text(const std::vector<GeneratedMelody>& harmonies) {
  std::string out = pipeline::harmonies_header("native") + "\n";
  for (const auto& h : harmonies) out += "// source=" + h.source + "\n" + h.text + "\n";
  return out;
}

bool write_harmony_playback(const fs::path& dir, const std::string& stem,
                            const encode::SymbolHarmony& harmony, const HarmonyPlaybackOptions& o,
                            pipeline::WavRenderer* renderer) {
  const bool any = std::any_of(harmony.lower.begin(), harmony.lower.end(),
                               [](const auto& s) { return s.onset; }) ||
                   std::any_of(harmony.upper.begin(), harmony.upper.end(),
                               [](const auto& s) { return s.onset; });
  if (!any) return false;
  encode::HarmonyRenderOptions ro;
  ro.programs = {o.lower_program, o.upper_program};
  ro.ticks_per_step = o.step_seconds / ro.seconds_per_tick;
  const midi::Song song = encode::harmony_to_song(harmony, ro);
  ensure_directory(dir);
  midi::write_file(dir / (stem + ".mid"), song);
  if (renderer) renderer->render(song, dir / (stem + ".wav"), 180.0);
  return true;
}

double parse_duration(const std::string& text, const std::string& flag) {
  double total = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.'))
      ++j;
    if (j == i)
      throw UsageError(flag + ": cannot read duration '" + text + "' (e.g. 10m, 45s, 1h30m)");
    const double v = std::stod(text.substr(i, j - i));
    std::size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    const std::string unit = text.substr(j, k - j);
    double mul = 0;
    if (unit.empty() || unit == "s")
      mul = 1;
    else if (unit == "ms")
      mul = 0.001;
    else if (unit == "m" || unit == "min")
      mul = 60;
    else if (unit == "h")
      mul = 3600;
    else
      throw UsageError(flag + ": unknown unit '" + unit + "' in '" + text + "' (ms, s, m, h)");
    total += v * mul;
    any = true;
    i = k;
  }
  if (!any) throw UsageError(flag + ": empty duration");
  return total;
}

}  // namespace melodl::cli

namespace {

namespace fs = std::filesystem;
namespace pl = melodl::pipeline;
using melodl::cli::Error;
using melodl::cli::UsageError;

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

struct TrainArgs {
  std::vector<std::string> inputs;
  std::string valid_file;
  double valid_fraction = 0.1;
  std::uint64_t seed = 1;
  std::string preset;
  bool harmonies = false;  // --harmonies: two-part harmonies instead of melodies
  int layers = 2, hidden = 256;
  std::string tbptt = "100";
  int batch = 32, window = 500;
  std::string optimizer = "adam";
  float lr = 2e-3f, l2 = 0.0f, clip = 0.0f;
  int epochs = 0;
  std::string time_budget;
  std::string device = "cpu";
  melodl::cli::CudaOptions cuda;  // --cuda-* (examples/cuda_options.h)
  int threads = 0;
  std::string run_dir;
  std::string resume;
  int samples_per_epoch = 4;
  int sample_length = 500;
  float temperature = 1.0f;
  bool wav = false;
  std::string checkpoint_every = "5m";
  int keep = 3;
  int program = 0;
  int upper_program = 24;
  unsigned jobs = 0;
  bool quiet = false;
  std::string viz;  // --viz [PORT]
  int viz_samples = 64;
  double viz_rate = 10;
  std::string viz_bind = "127.0.0.1";
  std::vector<CLI::Option*> model_opts;  // flags that a preset must not override
  CLI::App* sub = nullptr;
};

bool given(const TrainArgs& a, const char* name) { return a.sub->get_option(name)->count() > 0; }

std::string fmt_time(double s) {
  if (s < 0) return "?";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

pl::TrainSettings settings_from_args(const TrainArgs& a) {
  pl::TrainSettings s;
  s.network.layers = a.layers;
  s.network.hidden = a.hidden;
  s.network.seed = 12345 + a.seed;
  s.execution.threads = a.threads;
  s.execution.device = melodl::lstm::device_from_string(a.device);
  melodl::cli::apply_cuda_options(*a.sub, a.cuda, s.execution, false);
  s.train.optimizer.kind = melodl::lstm::optimizer_kind_from_string(
      a.optimizer == "dl4j-rmsprop" ? std::string("dl4j_rmsprop") : a.optimizer);
  s.train.optimizer.lr = a.lr;
  s.train.optimizer.l2 = a.l2;
  s.train.optimizer.clip_norm = a.clip;
  const auto slash = a.tbptt.find('/');
  try {
    s.train.tbptt_fwd = std::stoi(a.tbptt.substr(0, slash));
    s.train.tbptt_bwd =
        slash == std::string::npos ? s.train.tbptt_fwd : std::stoi(a.tbptt.substr(slash + 1));
  } catch (const std::exception&) {
    throw UsageError("--tbptt: expected N or FWD/BWD, got '" + a.tbptt + "'");
  }
  s.train.seed = a.seed;
  s.batch = a.batch;
  s.window = a.window;
  s.epochs = a.epochs;
  s.time_budget_s =
      a.time_budget.empty() ? 0.0 : melodl::cli::parse_duration(a.time_budget, "--time-budget");
  s.checkpoint_every_s = melodl::cli::parse_duration(a.checkpoint_every, "--checkpoint-every");
  s.keep_checkpoints = a.keep;
  s.samples_per_epoch = a.samples_per_epoch;
  s.sample_length = a.sample_length;
  s.sample_temperature = a.temperature;
  s.seed = a.seed;
  if (s.epochs == 0 && s.time_budget_s <= 0) s.epochs = 10;
  return s;
}

void apply_preset(TrainArgs& a) {
  if (a.preset.empty() && a.harmonies) a.preset = "harmonies";
  if (a.preset.empty()) return;
  if (a.preset == "harmonies" || a.preset == "melodl4j-harmonies") {
    if (!a.harmonies)
      throw UsageError("--preset " + a.preset + " is for two-part harmonies: add --harmonies");
    // GravesLSTMForTwoPartHarmonies (54adb04b): 3 x 100 GravesLSTM, Adam, L2 0.0015,
    // minibatch 32, windows of 2000 symbols, TBPTT 300/300, lr 0.05. DL4J adds its L2 to
    // the gradient of the loss summed over a segment's 300 steps (divided by the
    // minibatch only); ours is the per-symbol mean, 300 x smaller, and Adam does not see
    // the scale: the same balance is L2 0.0015 / 300 = 5e-6 here (docs/training.md).
    // Our "harmonies" preset also lowers the learning rate to 0.002.
    if (!given(a, "--layers")) a.layers = 3;
    if (!given(a, "--hidden")) a.hidden = 100;
    if (!given(a, "--optimizer")) a.optimizer = "adam";
    if (!given(a, "--lr")) a.lr = a.preset == "harmonies" ? 2e-3f : 0.05f;
    if (!given(a, "--l2")) a.l2 = 0.0015f / 300.0f;
    if (!given(a, "--tbptt")) a.tbptt = "300";
    if (!given(a, "--batch")) a.batch = 32;
    if (!given(a, "--window")) a.window = 2000;
    if (!given(a, "--sample-length")) a.sample_length = 2000;
    return;
  }
  if (a.preset != "melodl4j")
    throw UsageError("--preset: unknown preset '" + a.preset +
                     "' (melodl4j, harmonies, melodl4j-harmonies)");
  if (a.harmonies)
    throw UsageError(
        "--preset melodl4j is the melody network; with --harmonies use --preset "
        "harmonies or melodl4j-harmonies");
  // MELODL4J MelodyModelingExample v1: 2 x 200 GravesLSTM, RMSProp 0.1 in DL4J's order,
  // L2 0.001, TBPTT 50/50, minibatch 32, windows of 500 symbols.
  if (!given(a, "--layers")) a.layers = 2;
  if (!given(a, "--hidden")) a.hidden = 200;
  if (!given(a, "--optimizer")) a.optimizer = "dl4j-rmsprop";
  if (!given(a, "--lr")) a.lr = 0.1f;
  if (!given(a, "--l2")) a.l2 = 0.001f;
  if (!given(a, "--tbptt")) a.tbptt = "50";
  if (!given(a, "--batch")) a.batch = 32;
  if (!given(a, "--window")) a.window = 500;
}

nlohmann::json config_json(const TrainArgs& a, const pl::TrainSettings& s) {
  nlohmann::json j;
  std::vector<std::string> inputs;
  for (const auto& i : a.inputs) inputs.push_back(fs::absolute(i).lexically_normal().string());
  j["inputs"] = inputs;
  j["valid_file"] =
      a.valid_file.empty() ? "" : fs::absolute(a.valid_file).lexically_normal().string();
  j["valid_fraction"] = a.valid_fraction;
  j["seed"] = a.seed;
  j["preset"] = a.preset;
  // One "network" object as before: the model's shape and the execution options side by side.
  j["network"] = nlohmann::json::parse(s.network.to_json());
  j["network"].update(nlohmann::json::parse(s.execution.to_json()));
  j["train"] = nlohmann::json::parse(s.train.to_json());
  j["batch"] = s.batch;
  j["window"] = s.window;
  j["epochs"] = s.epochs;
  j["time_budget_s"] = s.time_budget_s;
  j["checkpoint_every_s"] = s.checkpoint_every_s;
  j["keep_checkpoints"] = s.keep_checkpoints;
  j["samples_per_epoch"] = s.samples_per_epoch;
  j["sample_length"] = s.sample_length;
  j["sample_temperature"] = s.sample_temperature;
  j["wav"] = a.wav;
  j["program"] = a.program;
  j["upper_program"] = a.upper_program;
  j["kind"] = a.harmonies ? "harmony" : "melody";
  return j;
}

pl::TrainSettings settings_from_config(const nlohmann::json& j) {
  pl::TrainSettings s;
  s.network = melodl::lstm::NetworkConfig::from_json(j.at("network").dump());
  s.execution = melodl::lstm::ExecutionOptions::from_json(j.at("network").dump());
  s.train = melodl::lstm::TrainConfig::from_json(j.at("train").dump());
  s.batch = j.at("batch");
  s.window = j.at("window");
  s.epochs = j.at("epochs");
  s.time_budget_s = j.at("time_budget_s");
  s.checkpoint_every_s = j.at("checkpoint_every_s");
  s.keep_checkpoints = j.at("keep_checkpoints");
  s.samples_per_epoch = j.at("samples_per_epoch");
  s.sample_length = j.at("sample_length");
  s.sample_temperature = j.at("sample_temperature");
  s.seed = j.at("seed");
  return s;
}

std::string default_run_dir() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", &tm);
  return buf;
}

class TrainProgress {
 public:
  explicit TrainProgress(bool quiet)
      : quiet_(quiet), tty_(melodl::cli::Progress::stderr_is_terminal()) {}
  void update(const pl::ProgressInfo& p) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const auto gap = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
    if (drawn_ && now - last_ < gap) return;
    last_ = now;
    drawn_ = true;
    constexpr int kWidth = 20;
    const int filled = static_cast<int>(kWidth * p.fraction);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(kWidth - filled), '.');
    const std::string epoch = p.epochs > 0
                                  ? std::to_string(p.epoch) + "/" + std::to_string(p.epochs)
                                  : std::to_string(p.epoch);
    char line[256];
    std::snprintf(line, sizeof line,
                  "train [%s] %3d%% epoch %s batch %zu/%zu  %.3f bits/sym  %.0f sym/s  %s  ETA %s",
                  bar.c_str(), static_cast<int>(100 * p.fraction), epoch.c_str(), p.batch,
                  p.batches, p.bits_per_symbol, p.symbols_per_s, fmt_time(p.elapsed_s).c_str(),
                  fmt_time(p.eta_s).c_str());
    if (tty_)
      std::fprintf(stderr, "\r\033[K%s", line);
    else
      std::fprintf(stderr, "%s\n", line);
    std::fflush(stderr);
  }
  void clear() {
    if (tty_ && drawn_ && !quiet_) {
      std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    }
  }

 private:
  bool quiet_, tty_, drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// Novelty of the last epoch's harmony samples against the training harmonies (both voices
// together in steps, and each voice as a melody in notes); printed unless quiet.
nlohmann::json harmony_novelty_json(const std::vector<pl::CorpusMelody>& train,
                                    const std::vector<pl::ComposedSample>& samples, bool quiet) {
  std::vector<melodl::encode::SymbolHarmony> corpus;
  corpus.reserve(train.size());
  for (const auto& m : train) corpus.push_back(m.harmony);
  const eval::HarmonyCorpusIndex index(corpus);
  const int last_epoch = samples.back().epoch;
  constexpr std::size_t kOrders = eval::kMaxNgram - eval::kMinNgram + 1;
  std::size_t n = 0, steps = 0, joint = 0, lower = 0, upper = 0, onsets = 0, onset_steps = 0;
  std::size_t found[kOrders] = {}, total[kOrders] = {};
  for (const auto& s : samples) {
    if (s.epoch != last_epoch) continue;
    const auto dec = melodl::encode::native_harmony_codec().decode(s.text);
    if (dec.harmony.steps() == 0) continue;
    const eval::HarmonyNovelty nov = index.novelty(dec.harmony);
    ++n;
    steps += nov.steps;
    joint = std::max(joint, nov.joint.longest_copy.length);
    if (nov.onset_copy > onsets) {
      onsets = nov.onset_copy;
      onset_steps = nov.onset_copy_steps;
    }
    lower = std::max(lower, nov.lower.longest_copy.length);
    upper = std::max(upper, nov.upper.longest_copy.length);
    for (std::size_t i = 0; i < kOrders; ++i) {
      found[i] += nov.joint.overlap[i].found;
      total[i] += nov.joint.overlap[i].total;
    }
  }
  nlohmann::json j;
  j["epoch"] = last_epoch;
  j["samples"] = n;
  j["steps"] = steps;
  j["longest_exact_copy_steps"] = joint;
  j["most_onsets_in_a_copy"] = onsets;
  j["most_onsets_copy_steps"] = onset_steps;
  j["lower_longest_exact_copy_notes"] = lower;
  j["upper_longest_exact_copy_notes"] = upper;
  for (std::size_t i = 0; i < kOrders; ++i)
    j["step_ngram_overlap"][std::to_string(eval::kMinNgram + static_cast<int>(i))] =
        total[i] ? static_cast<double>(found[i]) / static_cast<double>(total[i]) : 0.0;
  if (!quiet)
    std::printf(
        "novelty of epoch %d's %zu harmonies (%zu steps) vs the training set: longest exact copy "
        "of both voices %zu steps (%.1f s), the copy with the most note onsets %zu onsets in %zu "
        "steps; of the lower voice alone %zu notes, of the upper %zu notes\n",
        last_epoch, n, steps, joint, 0.0625 * static_cast<double>(joint), onsets, onset_steps,
        lower, upper);
  return j;
}

int run_train(TrainArgs& a) {
  // --device: cuda fails with the CUDA probe's reason when no GPU is usable (or the build
  // has no CUDA); auto falls back to the CPU. Checked before any data is read.
  try {
    const std::string backend = melodl::lstm::to_string(
        melodl::lstm::resolve_device(melodl::lstm::device_from_string(a.device)));
    if (a.device == "auto" && !a.quiet)
      std::printf("melodl train: --device auto: training on %s\n", backend.c_str());
  } catch (const std::exception& e) {
    throw Error(std::string("--device ") + a.device + ": " + e.what());
  }
  int viz_port = 8765;  // --viz: checked before any work
  if (!a.viz.empty()) {
    try {
      viz_port = std::stoi(a.viz);
    } catch (const std::exception&) {
      throw UsageError("--viz: expected a port number, got '" + a.viz +
                       "' (write --viz=PORT, or put --viz after the inputs)");
    }
  }
  if (viz_port < 0 || viz_port > 65535) throw UsageError("--viz: port out of range: " + a.viz);
  try {
    melodl::web::ListenerOptions{a.viz_samples, a.viz_rate, a.seed}.validate();
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }
  nlohmann::json config;
  fs::path run_dir;
  const bool resuming = !a.resume.empty();
  if (resuming) {
    run_dir = a.resume;
    const fs::path cfg = run_dir / "config.json";
    std::error_code ec;
    if (!fs::exists(cfg, ec))
      throw Error(cfg.string() + ": not found (is " + a.resume + " a run directory?)");
    try {
      config = nlohmann::json::parse(melodl::read_text_file(cfg));
      a.inputs = config.at("inputs").get<std::vector<std::string>>();
      a.valid_file = config.at("valid_file").get<std::string>();
      a.valid_fraction = config.at("valid_fraction").get<double>();
      a.seed = config.at("seed").get<std::uint64_t>();
      a.wav = a.wav || config.at("wav").get<bool>();
      if (!given(a, "--program")) a.program = config.at("program").get<int>();
      a.harmonies = config.value("kind", std::string("melody")) == "harmony";
      if (!given(a, "--upper-program")) a.upper_program = config.value("upper_program", 24);
    } catch (const nlohmann::json::exception& e) {
      throw Error(cfg.string() + ": damaged run configuration: " + e.what());
    }
  } else {
    if (a.inputs.empty())
      throw UsageError("give melodies files / MIDI inputs, or --resume RUN_DIR");
    if (!a.harmonies)
      for (const auto& in : a.inputs)
        if (melodl::cli::input_kind(in) == pl::LineKind::harmony)
          throw UsageError(in +
                           ": a harmonies file (from `melodl extract --harmonies`); add "
                           "--harmonies to train on two-part harmonies");
    apply_preset(a);
    run_dir = a.run_dir.empty() ? default_run_dir() : a.run_dir;
  }

  pl::TrainSettings settings;
  if (resuming) {
    settings = settings_from_config(config);
    // A resumed run may be given more epochs or time, or another thread count.
    if (given(a, "--epochs")) settings.epochs = a.epochs;
    if (given(a, "--time-budget"))
      settings.time_budget_s = melodl::cli::parse_duration(a.time_budget, "--time-budget");
    if (given(a, "--threads")) settings.execution.threads = a.threads;
    if (given(a, "--device"))
      settings.execution.device = melodl::lstm::device_from_string(a.device);
    melodl::cli::apply_cuda_options(*a.sub, a.cuda, settings.execution, true);
  } else {
    settings = settings_from_args(a);
  }
  try {
    settings.validate();
  } catch (const melodl::lstm::InvalidArgument&) {
    throw;  // NetworkConfig / TrainConfig checks of the LSTM library stay errors: exit 1
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }

  // Data.
  const pl::LineKind kind = a.harmonies ? pl::LineKind::harmony : pl::LineKind::melody;
  const char* lines_word = a.harmonies ? "harmonies" : "melodies";
  const pl::Corpus corpus = melodl::cli::load_corpus(a.inputs, a.jobs, a.quiet, kind);
  pl::Split split;
  if (!a.valid_file.empty()) {
    split.train = corpus.melodies();
    split.valid = melodl::cli::load_corpus({a.valid_file}, a.jobs, a.quiet, kind).melodies();
  } else {
    split = corpus.split_by_source(a.valid_fraction, a.seed);
  }
  if (split.train.empty())
    throw Error(std::string("no training ") + lines_word + " left after the validation split");

  std::optional<pl::TrainingRun> run;
  if (resuming) {
    run.emplace(
        pl::TrainingRun::resume(run_dir, settings, split, given(a, "--threads") ? a.threads : 0));
  } else {
    pl::Vocabulary vocab = pl::Vocabulary::from_melodies(split.train);
    // Validation symbols the training data never showed still need an input/output unit.
    std::vector<pl::CorpusMelody> both = split.train;
    both.insert(both.end(), split.valid.begin(), split.valid.end());
    vocab = pl::Vocabulary::from_melodies(both);
    melodl::check_writable(run_dir / "config.json");
    run.emplace(run_dir, settings, split, vocab);
    melodl::write_file_atomic(run_dir / "config.json", config_json(a, settings).dump(2) + "\n");
  }

  std::unique_ptr<pipeline::WavRenderer> renderer;
  fs::path soundfont;
  if (a.wav) {
    soundfont = pipeline::find_soundfont();
    renderer = std::make_unique<pipeline::WavRenderer>(soundfont);
  }

  const auto& st0 = run->state();
  if (!a.quiet) {
    const auto& cs = corpus.stats();
    std::size_t train_sym = 0, valid_sym = 0;
    for (const auto& m : split.train) train_sym += m.text.size();
    for (const auto& m : split.valid) valid_sym += m.text.size();
    std::printf("melodl train: %s %s\n", resuming ? "resuming" : "run", run_dir.c_str());
    std::printf(
        "  data: %zu %s from %zu files; train %zu (%zu symbols), valid %zu (%zu symbols, %zu "
        "files)\n",
        cs.melodies, lines_word, cs.sources, split.train.size(), train_sym, split.valid.size(),
        valid_sym, split.valid_sources.size());
    const auto& net = run->network().config();
    std::printf(
        "  model: %d x %d LSTM, vocabulary %d, %zu parameters; %s lr %g, TBPTT %d/%d, batch %d, "
        "window %d, %zu windows = %zu batches/epoch, %s, %d threads\n",
        net.layers, net.hidden, net.vocab, run->network().num_params(),
        melodl::lstm::to_string(settings.train.optimizer.kind).c_str(), st0.lr,
        settings.train.tbptt_fwd, settings.train.tbptt_bwd, settings.batch, settings.window,
        run->windows(), run->batches_per_epoch(),
        melodl::lstm::to_string(run->network().device()).c_str(),
        run->network().execution().resolved_threads());
    if (resuming)
      std::printf("  continuing at epoch %d, batch %zu (%s trained so far)\n", st0.epoch + 1,
                  st0.next_batch, fmt_time(st0.elapsed_s).c_str());
    std::fflush(stdout);
  }

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // The live view (--viz, web/, docs/viz.md); the server stops before the listener.
  std::unique_ptr<melodl::web::VizListener> viz_listener;
  std::unique_ptr<melodl::web::VizServer> viz_server;
  if (given(a, "--viz")) {
    try {
      viz_listener = std::make_unique<melodl::web::VizListener>(
          run->network().layout(), melodl::web::ListenerOptions{a.viz_samples, a.viz_rate, a.seed});
      viz_listener->set_stop_flag(&g_stop);
    } catch (const melodl::lstm::InvalidArgument&) {
      throw;  // (exit 1, as before)
    } catch (const melodl::InvalidArgument& e) {
      throw UsageError(e.what());
    }
    if (a.viz_bind != "127.0.0.1" && a.viz_bind != "localhost" && a.viz_bind != "::1")
      std::fprintf(stderr,
                   "melodl train: warning: --viz-bind %s exposes the view and its pause/resume "
                   "and learning-rate controls to the network, without authentication\n",
                   a.viz_bind.c_str());
    try {
      viz_server = std::make_unique<melodl::web::VizServer>(*viz_listener, a.viz_bind, viz_port);
    } catch (const std::runtime_error& e) {
      throw Error(e.what());
    }
    std::printf(
        "melodl viz: serving on %s (open it in a browser; from another machine: ssh -L "
        "%d:localhost:%d HOST)\n",
        viz_server->url().c_str(), viz_server->port(), viz_server->port());
    std::fflush(stdout);
  }

  TrainProgress progress(a.quiet);
  melodl::cli::PlaybackOptions playback;
  playback.program = a.program;
  melodl::cli::HarmonyPlaybackOptions harmony_playback;
  harmony_playback.lower_program = a.program;
  harmony_playback.upper_program = a.upper_program;
  pl::TrainCallbacks cb;
  cb.progress = [&](const pl::ProgressInfo& p) { progress.update(p); };
  cb.log = [&](const std::string& msg) {
    progress.clear();
    std::fprintf(stderr, "melodl train: %s\n", msg.c_str());
  };
  cb.epoch_end = [&](const pl::EpochMetrics& m, const std::vector<pl::Composition>& samples) {
    progress.clear();
    char dirname[32];
    std::snprintf(dirname, sizeof dirname, "epoch-%03d", m.epoch);
    const fs::path dir = run_dir / "samples" / dirname;
    std::vector<melodl::cli::GeneratedMelody> gen;
    int k = 0;
    for (const auto& c : samples) {
      ++k;
      char stem[32];
      std::snprintf(stem, sizeof stem, "sample-%02d", k);
      if (a.harmonies)
        melodl::cli::write_harmony_playback(dir, stem, c.harmony.harmony, harmony_playback,
                                            renderer.get());
      else
        melodl::cli::write_playback(dir, stem, c.decoded.melody, playback, renderer.get());
      gen.push_back({c.text,
                     "train epoch " + std::to_string(m.epoch) + " sample " + std::to_string(k),
                     playback.program, playback.start_pitch});
    }
    if (!gen.empty())
      melodl::write_file_atomic(dir / "samples.txt", a.harmonies
                                                         ? melodl::cli::harmonies_file_text(gen)
                                                         : melodl::cli::melodies_file_text(gen));
    if (viz_listener) {
      // The page plays melodies: a harmony's upper voice stands in for it.
      std::vector<melodl::encode::SymbolMelody> melodies;
      for (const auto& c : samples)
        melodies.push_back(a.harmonies ? melodl::encode::voice_melody(c.harmony.harmony.upper)
                                       : c.decoded.melody);
      viz_listener->on_epoch(m.epoch, m.valid_bits_per_symbol, melodies);
    }
    if (!a.quiet) {
      std::printf("epoch %d%s: train %.3f bits/symbol", m.epoch, m.partial ? " (partial)" : "",
                  m.train_bits_per_symbol);
      if (m.valid_bits_per_symbol > 0)
        std::printf(", valid %.3f bits/symbol %.3f bits/note", m.valid_bits_per_symbol,
                    m.valid_bits_per_note);
      std::printf(" [%s, %lld steps]", fmt_time(m.seconds).c_str(),
                  static_cast<long long>(m.steps));
      if (!samples.empty()) std::printf(" -> %s/", dir.c_str());
      std::printf("\n");
      std::fflush(stdout);
    }
  };

  if (viz_listener) {
    cb.step_end = [&](std::span<const float> params, std::span<const float> grads,
                      std::int64_t step, double loss_nats,
                      double lr) { viz_listener->on_step(params, grads, step, loss_nats, lr); };
    cb.take_lr = [&] { return viz_listener->take_requested_lr(); };
  }

  const auto wall_start = std::chrono::steady_clock::now();
  const pl::RunEnd end = run->run(g_stop, cb);
  progress.clear();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  const auto& st = run->state();
  if (end == pl::RunEnd::interrupted) {
    std::printf(
        "melodl train: interrupted; checkpoint %s written. Continue with: melodl train --resume "
        "%s\n",
        run->latest_checkpoint().c_str(), run_dir.c_str());
    return 130;
  }

  // Every generated melody, newest first (as MELODL4J wrote its composition file).
  std::vector<melodl::cli::GeneratedMelody> all;
  std::vector<int> counter(static_cast<std::size_t>(st.history.size() + 2), 0);
  for (const auto& s : st.samples) {
    const int k =
        ++counter[static_cast<std::size_t>(std::min<std::size_t>(s.epoch, counter.size() - 1))];
    all.push_back({s.text,
                   "train epoch " + std::to_string(s.epoch) + " sample " + std::to_string(k),
                   a.program, 60});
  }
  std::reverse(all.begin(), all.end());
  melodl::write_file_atomic(
      run_dir / "composition.txt",
      a.harmonies ? melodl::cli::harmonies_file_text(all) : melodl::cli::melodies_file_text(all));

  // Novelty of the last epoch's samples against the training melodies.
  nlohmann::json novelty = nlohmann::json::object();
  if (!st.samples.empty() && a.harmonies) {
    novelty = harmony_novelty_json(split.train, st.samples, a.quiet);
  } else if (!st.samples.empty()) {
    std::vector<melodl::encode::SymbolMelody> train_mel;
    for (const auto& m : split.train) train_mel.push_back(m.melody);
    const eval::CorpusIndex index(train_mel);
    const int last_epoch = st.samples.back().epoch;
    std::size_t longest = 0, n = 0, notes = 0;
    std::size_t found[eval::kMaxNgram - eval::kMinNgram + 1] = {}, total[eval::kMaxNgram -
                                                                         eval::kMinNgram + 1] = {};
    for (const auto& s : st.samples) {
      if (s.epoch != last_epoch) continue;
      const auto dec = melodl::encode::native_codec().decode(s.text);
      if (dec.melody.steps.empty()) continue;
      const auto tok = eval::tokenize(dec.melody);
      const auto nov = index.novelty(tok.tokens);
      longest = std::max(longest, nov.longest_copy.length);
      notes += tok.tokens.size();
      ++n;
      for (std::size_t i = 0; i < nov.overlap.size(); ++i) {
        found[i] += nov.overlap[i].found;
        total[i] += nov.overlap[i].total;
      }
    }
    novelty["epoch"] = last_epoch;
    novelty["samples"] = n;
    novelty["notes"] = notes;
    novelty["longest_exact_copy_notes"] = longest;
    for (std::size_t i = 0; i < std::size(found); ++i)
      novelty["ngram_overlap"][std::to_string(eval::kMinNgram + static_cast<int>(i))] =
          total[i] ? static_cast<double>(found[i]) / static_cast<double>(total[i]) : 0.0;
    if (!a.quiet) {
      std::printf(
          "novelty of epoch %d's %zu samples (%zu notes) vs the training set: longest exact copy "
          "%zu notes; "
          "note n-grams also in the corpus:",
          last_epoch, n, notes, longest);
      for (std::size_t i = 0; i < std::size(found); ++i)
        std::printf(
            " %d-grams %.0f%%", eval::kMinNgram + static_cast<int>(i),
            total[i] ? 100.0 * static_cast<double>(found[i]) / static_cast<double>(total[i]) : 0.0);
      std::printf("\n");
    }
  }

  nlohmann::json manifest;
  manifest["tool"] = "melodl train";
  manifest["config"] = resuming ? config : config_json(a, settings);
  manifest["seed"] = a.seed;
  manifest["data_hash"] = std::to_string(run->data_hash());
  manifest["vocabulary"] = run->vocabulary().chars();
  std::size_t train_sym = 0, valid_sym = 0;
  for (const auto& m : split.train) train_sym += m.text.size();
  for (const auto& m : split.valid) valid_sym += m.text.size();
  manifest["data"] = {{"train_melodies", split.train.size()},         {"train_symbols", train_sym},
                      {"valid_melodies", split.valid.size()},         {"valid_symbols", valid_sym},
                      {"valid_sources", split.valid_sources},         {"windows", run->windows()},
                      {"batches_per_epoch", run->batches_per_epoch()}};
  manifest["parameters"] = run->network().num_params();
  manifest["epochs"] = nlohmann::json::array();
  for (const auto& m : st.history) manifest["epochs"].push_back(nlohmann::json::parse(m.to_json()));
  manifest["timings"] = {
      {"training_seconds", st.elapsed_s},
      {"this_session_wall_seconds",
       std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count()}};
  manifest["skipped_steps"] = st.skipped_steps;
  manifest["reloads"] = st.reloads;
  manifest["final_lr"] = st.lr;
  manifest["checkpoint"] = run->latest_checkpoint().filename().string();
  manifest["novelty"] = novelty;
  melodl::write_file_atomic(run_dir / "manifest.json", manifest.dump(2) + "\n");
  if (!a.quiet) {
    std::printf(
        "melodl train: done in %s; checkpoint %s\n  samples: %s/samples/epoch-*/ (MIDI%s), all "
        "melodies: %s/composition.txt, manifest: %s/manifest.json\n"
        "  compose more: melodl compose %s --count 8 -o out --wav\n",
        fmt_time(st.elapsed_s).c_str(), run->latest_checkpoint().c_str(), run_dir.c_str(),
        renderer ? " + WAV" : "", run_dir.c_str(), run_dir.c_str(), run_dir.c_str());
    if (st.skipped_steps || st.reloads)
      std::printf("  %zu updates skipped for non-finite values, %zu reloads\n", st.skipped_steps,
                  st.reloads);
  }
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<TrainArgs>();
  a->sub = &sub;
  sub.footer(
      "Run directory: config.json, checkpoints/ (ckpt-NNNNNN.safetensors + latest), "
      "samples/epoch-NNN/ (MIDI, WAV with --wav, samples.txt), composition.txt (all samples, "
      "newest first), manifest.json. Ctrl-C writes a checkpoint and exits (code 130); "
      "continue with --resume RUN_DIR. See docs/training.md.");
  sub.add_option("inputs", a->inputs,
                 "Melodies files from `melodl extract`, or MIDI files / folders");
  sub.add_option("--valid", a->valid_file, "Validation melodies (instead of splitting the inputs)");
  sub.add_option("--valid-fraction", a->valid_fraction,
                 "Fraction of source FILES held out for validation")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9));
  sub.add_option("--seed", a->seed, "Seed of the split, data order, weights and samples")
      ->capture_default_str();
  sub.add_option("--preset", a->preset,
                 "melodl4j: 2x200, DL4J RMSProp 0.1, L2 0.001, TBPTT 50, batch 32, window 500; "
                 "harmonies (the default with --harmonies): 3x100, Adam 0.002, L2 5e-6 (the "
                 "original's 0.0015 on DL4J's summed gradient), TBPTT 300, batch 32, window "
                 "2000; melodl4j-harmonies: the same with Adam 0.05 as the original");
  sub.add_flag("--harmonies", a->harmonies,
               "Train on two-part harmonies (harmonies files of `melodl extract --harmonies`, or "
               "MIDI); samples are two-track MIDI");
  sub.add_option("--layers", a->layers, "LSTM layers")->capture_default_str();
  sub.add_option("--hidden", a->hidden, "Units per layer")->capture_default_str();
  sub.add_option("--tbptt", a->tbptt, "Truncated BPTT length: N or FWD/BWD")->capture_default_str();
  sub.add_option("--batch", a->batch, "Windows per minibatch")->capture_default_str();
  sub.add_option("--window", a->window, "Symbols per training window")->capture_default_str();
  sub.add_option("--optimizer", a->optimizer, "adam, rmsprop, dl4j-rmsprop or sgd")
      ->capture_default_str()
      ->check(CLI::IsMember({"adam", "rmsprop", "dl4j-rmsprop", "sgd"}));
  sub.add_option("--lr", a->lr, "Learning rate")->capture_default_str();
  sub.add_option("--l2", a->l2, "L2 coefficient on weights")->capture_default_str();
  sub.add_option("--clip", a->clip, "Global gradient-norm clip (0 = off)")->capture_default_str();
  sub.add_option("--epochs", a->epochs, "Epochs (default 10 when no --time-budget)");
  sub.add_option("--time-budget", a->time_budget, "Training time limit, e.g. 10m, 45s, 1h");
  sub.add_option("--device", a->device,
                 "cpu, cuda (the GPU backend) or "
                 "auto (cuda when a GPU is usable, else cpu)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  melodl::cli::add_cuda_options(sub, a->cuda);
  sub.add_option("--threads", a->threads,
                 "CPU threads (0 = all); results are deterministic per count")
      ->capture_default_str();
  sub.add_option("--run-dir", a->run_dir, "Run directory (default runs/<UTC timestamp>)");
  sub.add_option("--resume", a->resume, "Continue the run in this directory");
  sub.add_option("--samples-per-epoch", a->samples_per_epoch, "Melodies composed after each epoch")
      ->capture_default_str();
  sub.add_option("--sample-length", a->sample_length, "Most symbols per sample")
      ->capture_default_str();
  sub.add_option("--temperature", a->temperature, "Sampling temperature of the epoch samples")
      ->capture_default_str();
  sub.add_flag("--wav", a->wav, "Also render samples to WAV (fluidsynth)");
  sub.add_option("--program", a->program,
                 "General MIDI instrument of the samples (with --harmonies: the lower voice)")
      ->capture_default_str();
  sub.add_option("--upper-program", a->upper_program,
                 "With --harmonies: General MIDI instrument of the upper voice")
      ->capture_default_str()
      ->check(CLI::Range(0, 127));
  sub.add_option("--checkpoint-every", a->checkpoint_every,
                 "Checkpoint interval besides epoch ends (0 = every batch)")
      ->capture_default_str();
  sub.add_option("--keep-checkpoints", a->keep, "Checkpoints kept")->capture_default_str();
  sub.add_option("-j,--jobs", a->jobs, "Threads extracting MIDI inputs (0 = all)");
  sub.add_flag("-q,--quiet", a->quiet, "No progress or summary");
  sub.add_option("--viz", a->viz,
                 "Live 3D view of the gradients in the browser on this port (default 8765, 0 = "
                 "any free port); see docs/viz.md")
      ->expected(0, 1);
  sub.add_option("--viz-samples", a->viz_samples, "Parameters shown per parameter array")
      ->capture_default_str();
  sub.add_option("--viz-rate", a->viz_rate, "Most snapshots per second sent to the view")
      ->capture_default_str();
  sub.add_option("--viz-bind", a->viz_bind,
                 "Address the view listens on (other than 127.0.0.1: reachable from the network)")
      ->capture_default_str();
  return [a] { return run_train(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(train, "train", "Train an LSTM on melodies (melodies file or MIDI)", setup);
