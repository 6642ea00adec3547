// pipeline/train_session.cpp: see train_session.h.
#include "pipeline/train_session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "base/error.h"
#include "base/files.h"
#include "pipeline/data_parallel.h"
#include "pipeline/playback.h"

namespace melodl::pipeline {

namespace fs = std::filesystem;

namespace {

void add_stats(CorpusStats& sum, const CorpusStats& s) {
  sum.lines += s.lines;
  sum.melodies += s.melodies;
  sum.dropped += s.dropped;
  sum.repaired += s.repaired;
  sum.symbols += s.symbols;
  sum.notes += s.notes;
  sum.sources += s.sources;
}

// manifest.json, written when a session finishes.
struct ManifestData {
  std::size_t train_melodies = 0, train_symbols = 0, valid_melodies = 0, valid_symbols = 0;
  std::vector<std::string> valid_sources;
  std::size_t windows = 0, batches_per_epoch = 0;
};
struct ManifestTimings {
  double training_seconds = 0.0;
  double this_session_wall_seconds = 0.0;  // this process, from run() to the manifest
};
// The manifest's "best" (only for a run with validation): the epoch with the lowest
// validation bits/note, its checkpoint (best.safetensors, "" when missing) and whether
// --patience ended the run.
struct ManifestBest {
  int epoch = 0;
  double valid_bits_per_note = 0.0;
  std::string checkpoint;
  bool stopped_early = false;
  int validations_since_best = 0;
};
struct Manifest {
  std::string tool = "melodl train";
  nlohmann::json config;  // config.json as the run was started
  std::uint64_t seed = 0;
  std::string data_hash;
  std::string vocabulary;
  ManifestData data;
  std::size_t parameters = 0;
  std::vector<nlohmann::json> epochs;  // EpochMetrics::to_json of each epoch
  ManifestTimings timings;
  std::size_t skipped_steps = 0, reloads = 0;
  double final_lr = 0.0;
  std::string checkpoint;  // file name of the last checkpoint
  nlohmann::json novelty = nlohmann::json::object();
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ManifestData, train_melodies, train_symbols, valid_melodies,
                                   valid_symbols, valid_sources, windows, batches_per_epoch)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ManifestTimings, training_seconds, this_session_wall_seconds)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ManifestBest, epoch, valid_bits_per_note, checkpoint,
                                   stopped_early, validations_since_best)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Manifest, tool, config, seed, data_hash, vocabulary, data,
                                   parameters, epochs, timings, skipped_steps, reloads, final_lr,
                                   checkpoint, novelty)

const char* lines_word(LineKind kind) {
  return kind == LineKind::harmony ? "harmonies" : "melodies";
}

// `--init-from`: the model must be of the run's kind, know every symbol of its lines and
// have the run's styles (a styled model needs styled inputs among its styles, an unstyled
// one none). Throws InvalidArgument naming the model and what differs.
void check_init_model(const LoadedModel& model, const RunConfig& config,
                      const std::vector<CorpusMelody>& lines) {
  const std::string who = "--init-from " + model.path.string() + ": ";
  if (model.vocab.kind() != config.kind)
    throw InvalidArgument(who + "the model composes " + lines_word(model.vocab.kind()) +
                          ", the run's inputs are " + lines_word(config.kind));
  for (const auto& mel : lines) {
    if (model.vocab.covers(mel)) continue;
    for (char c : mel.text)
      if (model.vocab.id(c) < 0)
        throw InvalidArgument(who + "the model's vocabulary \"" + model.vocab.chars() +
                              "\" lacks symbol '" + std::string(1, c) + "' of " + mel.source);
  }
  const auto& have = model.vocab.styles();
  if (have.empty() && !config.styles.empty())
    throw InvalidArgument(who + "the model has no styles: give its inputs without --style");
  if (!have.empty() && config.styles.empty())
    throw InvalidArgument(who + "the model is style-conditioned (" + model.vocab.style_list() +
                          "): tag the inputs with --style NAME=PATH, NAME one of those");
  for (const std::string& name : style_names(config.styles))
    if (model.vocab.style_id(name) < 0)
      throw InvalidArgument(who + "style " + name + " is not one of the model's (" +
                            model.vocab.style_list() + ")");
}

}  // namespace

std::string default_run_dir() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", &tm);
  return buf;
}

std::size_t symbol_count(const std::vector<CorpusMelody>& lines) {
  std::size_t n = 0;
  for (const auto& m : lines) n += m.text.size();
  return n;
}

struct TrainSession::Impl {
  fs::path run_dir;
  RunConfig config;
  nlohmann::json stored_config;  // for the manifest
  bool resuming = false;
  CorpusStats stats;
  Split split;
  std::optional<TrainingRun> training;
  std::unique_ptr<WavRenderer> renderer;

  // The lines of the config, split into training and validation.
  void load_data(unsigned jobs, const InputEvents& events) {
    const auto mode = config.strict_midi ? midi::ReadMode::strict : midi::ReadMode::recover;
    if (!config.styles.empty()) return load_styled_data(jobs, events, mode);
    const Corpus corpus = load_corpus(config.inputs, jobs, config.kind, events, mode);
    stats = corpus.stats();
    if (!config.valid_file.empty()) {
      split.train = corpus.melodies();
      split.valid = load_corpus({config.valid_file}, jobs, config.kind, events, mode).melodies();
    } else {
      split = corpus.split_by_source(config.valid_fraction, config.settings.seed);
    }
    if (split.train.empty())
      throw InvalidArgument(std::string("no training ") + lines_word(config.kind) +
                            " left after the validation split");
  }

  // Style conditioning: each style's lines tagged with it and split by source file on their
  // own (every style keeps its share of validation files).
  void load_styled_data(unsigned jobs, const InputEvents& events, midi::ReadMode mode) {
    for (const std::string& name : style_names(config.styles)) {
      std::vector<std::string> paths;
      for (const auto& s : config.styles)
        if (s.name == name) paths.push_back(s.path);
      const Corpus corpus = load_corpus(paths, jobs, config.kind, events, mode);
      add_stats(stats, corpus.stats());
      Split part = corpus.split_by_source(config.valid_fraction, config.settings.seed);
      if (part.train.empty())
        throw InvalidArgument("style " + name + ": no training " + lines_word(config.kind) +
                              " left after the validation split");
      for (auto* side : {&part.train, &part.valid})
        for (auto& mel : *side) mel.style = name;
      split.train.insert(split.train.end(), part.train.begin(), part.train.end());
      split.valid.insert(split.valid.end(), part.valid.begin(), part.valid.end());
      split.valid_sources.insert(split.valid_sources.end(), part.valid_sources.begin(),
                                 part.valid_sources.end());
    }
  }

  void make_renderer() {
    if (config.wav) renderer = std::make_unique<WavRenderer>(find_soundfont());
  }

  fs::path samples_dir(int epoch) const {
    char name[32];
    std::snprintf(name, sizeof name, "epoch-%03d", epoch);
    return run_dir / "samples" / name;
  }

  PlaybackOptions playback() const {
    PlaybackOptions o;
    o.program = config.program;
    o.upper_program = config.upper_program;
    return o;
  }

  // samples/epoch-NNN/: sample-KK.mid (and .wav) and samples.txt.
  void write_epoch_samples(int epoch, const std::vector<Composition>& samples) {
    const fs::path dir = samples_dir(epoch);
    remove_stale_temp_files(dir);  // a run killed while writing this epoch's samples
    const PlaybackOptions o = playback();
    std::vector<GeneratedLine> lines;
    int k = 0;
    for (const auto& c : samples) {
      ++k;
      char stem[32];
      std::snprintf(stem, sizeof stem, "sample-%02d", k);
      write_playback(dir, stem, c, config.kind, o, renderer.get());
      lines.push_back({c.text,
                       "train epoch " + std::to_string(epoch) + " sample " + std::to_string(k),
                       o.program, o.start_pitch});
    }
    if (!lines.empty())
      write_file_atomic(dir / "samples.txt", generated_lines_file(config.kind, lines));
  }

  // composition.txt: every sample of the run, newest first (as MELODL4J wrote its
  // composition file).
  void write_composition(const RunState& st) const {
    std::vector<GeneratedLine> all;
    std::vector<int> counter(static_cast<std::size_t>(st.history.size() + 2), 0);
    for (const auto& s : st.samples) {
      const int k =
          ++counter[static_cast<std::size_t>(std::min<std::size_t>(s.epoch, counter.size() - 1))];
      all.push_back({s.text,
                     "train epoch " + std::to_string(s.epoch) + " sample " + std::to_string(k),
                     config.program, 60});
    }
    std::reverse(all.begin(), all.end());
    write_file_atomic(run_dir / "composition.txt", generated_lines_file(config.kind, all));
  }

  void write_manifest(const SessionResult& result, double wall_seconds) const {
    const RunState& st = training->state();
    Manifest m;
    m.config = stored_config;
    m.seed = config.settings.seed;
    m.data_hash = std::to_string(training->data_hash());
    m.vocabulary = training->vocabulary().chars();
    m.data = {split.train.size(),           symbol_count(split.train), split.valid.size(),
              symbol_count(split.valid),    split.valid_sources,       training->windows(),
              training->batches_per_epoch()};
    m.parameters = training->network().num_params();
    for (const auto& e : st.history) m.epochs.push_back(nlohmann::json::parse(e.to_json()));
    m.timings = {st.elapsed_s, wall_seconds};
    m.skipped_steps = st.skipped_steps;
    m.reloads = st.reloads;
    m.final_lr = st.lr;
    m.checkpoint = training->latest_checkpoint().filename().string();
    if (result.melody_novelty) m.novelty = *result.melody_novelty;
    if (result.harmony_novelty) m.novelty = *result.harmony_novelty;
    nlohmann::json j = m;
    if (st.best_epoch > 0)
      j["best"] = ManifestBest{st.best_epoch, st.best_bits_per_note,
                               training->best_checkpoint().filename().string(), st.stopped_early,
                               st.validations_since_best};
    write_file_atomic(run_dir / "manifest.json", j.dump(2) + "\n");
  }
};

TrainSession::TrainSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrainSession::~TrainSession() = default;
TrainSession::TrainSession(TrainSession&&) noexcept = default;

TrainSession TrainSession::start(const fs::path& run_dir, const RunConfig& config, unsigned jobs,
                                 const InputEvents& events) {
  auto m = std::make_unique<Impl>();
  m->run_dir = run_dir;
  m->config = config;
  m->load_data(jobs, events);
  if (m->split.valid.empty()) {  // nothing to validate on: drop what needs validations
    TrainSettings& st = m->config.settings;
    if (config.default_plateau) {  // constant, with any --warmup kept
      lstm::LrScheduleConfig constant;
      constant.warmup_steps = st.train.schedule.warmup_steps;
      st.train.schedule = constant;
    }
    if (config.default_patience) st.patience = 0;
  }
  // Validation symbols the training data never showed still need an input/output unit.
  std::vector<CorpusMelody> both = m->split.train;
  both.insert(both.end(), m->split.valid.begin(), m->split.valid.end());
  Vocabulary vocab = Vocabulary::from_melodies(both);
  if (!config.styles.empty()) vocab = vocab.with_styles(style_names(config.styles));
  std::vector<float> initial;
  if (!config.init_from.empty()) {  // fine-tuning: the model's shape, vocabulary and weights
    LoadedModel model = load_model(config.init_from);
    check_init_model(model, config, both);
    m->config.init_from = model.path.string();
    m->config.settings.network = model.checkpoint.network_config;
    vocab = model.vocab;
    initial = std::move(model.checkpoint.params);
  }
  check_writable(run_dir / "config.json");
  m->training.emplace(run_dir, m->config.settings, m->split, vocab, std::move(initial));
  m->stored_config = with_absolute_paths(m->config);
  if (writes_run_files(config.settings.reducer))  // rank 0 of a data-parallel job
    write_file_atomic(run_dir / "config.json", m->stored_config.dump(2) + "\n");
  m->make_renderer();
  return TrainSession(std::move(m));
}

TrainSession TrainSession::resume(const fs::path& run_dir, const RunConfig& config, int threads,
                                  unsigned jobs, const InputEvents& events) {
  auto m = std::make_unique<Impl>();
  m->run_dir = run_dir;
  m->config = config;
  m->resuming = true;
  read_run_config(run_dir, &m->stored_config);
  m->load_data(jobs, events);
  m->training.emplace(TrainingRun::resume(run_dir, config.settings, m->split, threads));
  m->make_renderer();
  return TrainSession(std::move(m));
}

SessionResult TrainSession::run(const std::atomic<bool>& stop, const TrainCallbacks& callbacks) {
  Impl& m = *impl_;
  TrainCallbacks cb = callbacks;
  const bool writes = writes_run_files(m.config.settings.reducer);  // rank 0 of a job
  cb.epoch_end = [&](const EpochMetrics& e, const std::vector<Composition>& samples) {
    if (writes) m.write_epoch_samples(e.epoch, samples);
    if (callbacks.epoch_end) callbacks.epoch_end(e, samples);
  };
  const auto wall_start = std::chrono::steady_clock::now();
  SessionResult result;
  try {
    result.end = m.training->run(stop, cb);
  } catch (const WriteCancelled&) {  // callbacks.abandon_write: the previous checkpoint stays
    result.end = RunEnd::abandoned;
  }
  if (result.end != RunEnd::finished || !writes) return result;
  const RunState& st = m.training->state();
  m.write_composition(st);
  if (!st.samples.empty() && m.config.kind == LineKind::harmony)
    result.harmony_novelty = harmony_samples_novelty(m.split.train, st.samples);
  else if (!st.samples.empty())
    result.melody_novelty = melody_samples_novelty(m.split.train, st.samples);
  m.write_manifest(
      result, std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count());
  return result;
}

const fs::path& TrainSession::run_dir() const { return impl_->run_dir; }
const RunConfig& TrainSession::config() const { return impl_->config; }
bool TrainSession::resuming() const { return impl_->resuming; }
const CorpusStats& TrainSession::corpus_stats() const { return impl_->stats; }
const Split& TrainSession::split() const { return impl_->split; }
const TrainingRun& TrainSession::training() const { return *impl_->training; }
bool TrainSession::renders_wav() const { return impl_->renderer != nullptr; }
fs::path TrainSession::samples_dir(int epoch) const { return impl_->samples_dir(epoch); }

}  // namespace melodl::pipeline
