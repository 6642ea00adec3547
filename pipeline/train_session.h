// pipeline/train_session.h: one `melodl train` run directory from its configuration to its
// manifest: loads the lines (corpus_inputs.h) and splits them, writes config.json
// (run_config.h) or continues the run it describes, drives the TrainingRun (training.h),
// writes each epoch's samples as samples/epoch-NNN/ (MIDI, WAV with config.wav, samples.txt),
// and at the end composition.txt (every sample, newest first) and manifest.json with the
// novelty of the last samples (novelty.h) and the best epoch ("best", with validation). The
// caller parses flags and prints; it gets control through TrainCallbacks. Docs:
// docs/training.md. Tests: tests/pipeline/run_test.cpp, best_test.cpp.
//
// Example:
//   melodl::pipeline::RunConfig c;  c.inputs = {"bach.txt"};  c.settings.epochs = 2;
//   auto session = melodl::pipeline::TrainSession::start("runs/bach", c, 0);
//   std::atomic<bool> stop{false};
//   session.run(stop, {});   // runs/bach/manifest.json, samples/, checkpoints/
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/audio.h"
#include "pipeline/corpus.h"
#include "pipeline/corpus_inputs.h"
#include "pipeline/novelty.h"
#include "pipeline/run_config.h"
#include "pipeline/training.h"

namespace melodl::pipeline {

// What a finished session found; the novelty of its kind when there were samples.
struct SessionResult {
  RunEnd end = RunEnd::finished;
  std::optional<MelodySamplesNovelty> melody_novelty;
  std::optional<HarmonySamplesNovelty> harmony_novelty;
};

class TrainSession {
 public:
  // A new run in run_dir: loads config's lines (MIDI with `jobs` threads), splits them,
  // checks run_dir can be written, creates the run and writes config.json (with absolute
  // paths). The settings must be valid (TrainSettings::validate). Throws InvalidArgument
  // when no training line is left after the split.
  static TrainSession start(const std::filesystem::path& run_dir, const RunConfig& config,
                            unsigned jobs, const InputEvents& events = {});
  // Continues run_dir with `config` (read_run_config's, possibly with more epochs, time or
  // other execution options); threads > 0 overrides the thread count (TrainingRun::resume).
  static TrainSession resume(const std::filesystem::path& run_dir, const RunConfig& config,
                             int threads, unsigned jobs, const InputEvents& events = {});
  ~TrainSession();
  TrainSession(TrainSession&&) noexcept;

  // Trains until done or `stop`; after each epoch writes its samples, then calls
  // callbacks.epoch_end. When finished (not interrupted) writes composition.txt and
  // manifest.json.
  SessionResult run(const std::atomic<bool>& stop, const TrainCallbacks& callbacks);

  const std::filesystem::path& run_dir() const;
  const RunConfig& config() const;
  bool resuming() const;
  const CorpusStats& corpus_stats() const;  // of the inputs (not of valid_file)
  const Split& split() const;
  const TrainingRun& training() const;
  bool renders_wav() const;
  // samples/epoch-NNN of an epoch (1-based).
  std::filesystem::path samples_dir(int epoch) const;

 private:
  struct Impl;
  explicit TrainSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "runs/<UTC date-time>", e.g. runs/20260101-120000: a new run's directory by default.
std::string default_run_dir();

// Symbols in the lines (their texts' lengths).
std::size_t symbol_count(const std::vector<CorpusMelody>& lines);

}  // namespace melodl::pipeline
