// pipeline/training.h: a whole training run of `melodl train`: epochs over
// packed melody windows (corpus.h), truncated BPTT with a check before every update,
// validation bits per symbol / per note and sample melodies after each epoch, rotating
// checkpoints with a `latest` pointer, the best checkpoint (lowest validation bits/note) and
// early stopping (--patience), resume, and the non-finite-value policy:
//   - a non-finite loss or gradient norm skips the update (counted, logged);
//   - max_bad_steps skips in a row, or non-finite weights after an update, reload the
//     last good checkpoint with the learning rate halved;
//   - a checkpoint with non-finite weights is never written; a checkpoint that does not
//     load falls back to the previous one.
// File I/O of samples (MIDI/WAV) and the manifest are the caller's (train_session.h):
// this class calls back. See docs/training.md. Tests: tests/pipeline/.
//
// Fault injection for tests: the hooks of TrainCallbacks (before_update, after_update,
// checkpoint_written).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lstm/trainer.h"
#include "pipeline/composing.h"
#include "pipeline/corpus.h"

namespace melodl::pipeline {

struct TrainSettings {
  lstm::NetworkConfig network;       // vocab is set from the data
  lstm::ExecutionOptions execution;  // device, threads, CUDA options (not saved in checkpoints)
  lstm::TrainConfig train;
  int batch = 32;
  int window = 500;
  int epochs = 0;                     // 0 = until the time budget
  double time_budget_s = 0.0;         // 0 = until the epochs; both 0 is an error
  double checkpoint_every_s = 300.0;  // 0 = after every batch
  int keep_checkpoints = 3;
  int max_bad_steps = 3;
  int patience = 0;  // stop after this many validations without a new best (0 = off)
  int samples_per_epoch = 4;
  int sample_length = 500;
  float sample_temperature = 1.0f;
  std::uint64_t seed = 1;  // data order and samples (weights: network.seed)
  // One rank of a data-parallel job (pipeline/data_parallel.h, docs/distributed.md): each
  // rank trains on its share of every minibatch, the trainer sums the gradients, rank 0
  // alone writes files and calls back. Not owned, not saved; nullptr = one process.
  lstm::GradientReducer* reducer = nullptr;

  void validate() const;  // throws InvalidArgument naming the setting
};

struct EpochMetrics {
  int epoch = 0;         // 1-based
  bool partial = false;  // stopped by the time budget inside the epoch
  double train_bits_per_symbol = 0.0;
  double valid_bits_per_symbol = 0.0;  // 0 when there is no validation data
  double valid_bits_per_note = 0.0;
  double seconds = 0.0;  // training time so far (all sessions)
  std::int64_t steps = 0;
  std::uint64_t symbols = 0;  // training predictions so far
  double lr = 0.0;

  std::string to_json() const;  // one flat JSON object (the manifest's and run state's form)
};

struct ComposedSample {
  int epoch = 0;
  std::string text;
};

// Everything that is restored on resume (saved in each checkpoint as JSON).
struct RunState {
  int epoch = 0;               // 0-based epoch in progress
  std::size_t next_batch = 0;  // next batch of that epoch
  double epoch_loss_nats = 0.0, epoch_count = 0.0;
  std::uint64_t symbols = 0;
  double elapsed_s = 0.0;
  std::int64_t attempts = 0;  // update attempts (good or skipped), never restored on reload
  std::size_t skipped_steps = 0;
  std::size_t reloads = 0;
  double lr = 0.0;  // the base rate (Trainer::base_learning_rate; a schedule scales it)
  bool finished = false;
  // The best validation so far (lowest bits/note; best_epoch 0: none yet), validations since
  // it, and whether --patience ended the run. Absent in older checkpoints: read as none.
  int best_epoch = 0;
  double best_bits_per_note = 0.0;
  int validations_since_best = 0;
  bool stopped_early = false;
  std::vector<EpochMetrics> history;
  std::vector<ComposedSample> samples;  // oldest first

  std::string to_json() const;
  static RunState from_json(const std::string& text);  // throws InvalidArgument
};

struct ProgressInfo {
  int epoch = 0, epochs = 0;  // 1-based; epochs 0 with a time budget
  std::size_t batch = 0, batches = 0;
  double bits_per_symbol = 0.0;  // running mean of recent batches
  double symbols_per_s = 0.0;
  double elapsed_s = 0.0;
  double eta_s = -1.0;    // -1: unknown
  double fraction = 0.0;  // of the whole run
};

struct TrainCallbacks {
  std::function<void(const ProgressInfo&)> progress;
  // After each epoch's validation and samples (samples of this epoch, in order).
  std::function<void(const EpochMetrics&, const std::vector<Composition>&)> epoch_end;
  std::function<void(const std::string&)> log;  // one-line events (skips, checkpoints)
  // After every optimiser update, on the training thread; may block (the --viz view pauses
  // training this way). The whole parameter and gradient buffers (the update's gradient of
  // the summed loss), the update count, the segment's mean loss in nats per symbol, the lr.
  std::function<void(std::span<const float> params, std::span<const float> grads, std::int64_t step,
                     double loss_nats, double lr)>
      step_end;
  // Polled after every step_end (on the training thread): a learning rate for the following
  // updates (the --viz page's request), or nullopt. The run applies it with
  // Trainer::set_learning_rate and records it in RunState::lr.
  std::function<std::optional<double>()> take_lr;
  // Hooks for tests (fault injection), on the training thread. before_update: after each
  // segment's gradient, before its checks and update, with the update attempt number
  // (RunState::attempts, 1-based) and the trainer (e.g. a NaN into mutable_gradients()).
  // after_update: after each applied update, before the weight check (e.g. a NaN weight).
  std::function<void(std::int64_t attempt, lstm::Trainer& trainer)> before_update;
  std::function<void(std::int64_t attempt, lstm::Trainer& trainer)> after_update;
  // checkpoint_written: after each checkpoint file is written, before `latest` names it (a
  // pause here lets a test's kill -9 land inside a checkpoint).
  std::function<void(const std::filesystem::path& checkpoint)> checkpoint_written;
  // Polled during every checkpoint write (between chunks of 1 MiB, base/files.h): true
  // abandons the write in progress (its temporary file removed, `latest` still naming the
  // previous checkpoint) and run() throws WriteCancelled (base/files.h; TrainSession::run
  // returns RunEnd::abandoned). `melodl train` returns true
  // after a second SIGINT/SIGTERM.
  std::function<bool()> abandon_write;
};

// interrupted: `stop` was set; the checkpoint of the state the run stopped at is written.
// abandoned (TrainSession::run): callbacks.abandon_write cut a checkpoint write short;
// latest_checkpoint() is the previous one (empty when there was none).
enum class RunEnd { finished, interrupted, abandoned };

class TrainingRun {
 public:
  // A fresh run in run_dir (created; its checkpoints/ must be empty or absent, and there must
  // be no best.safetensors). Throws InvalidArgument when settings.patience > 0 or the
  // plateau schedule is on but data.valid is empty.
  // `initial` (optional): the weights to start from (fine-tuning a trained model,
  // `train --init-from`), layout().total of settings.network; else random initialisation.
  TrainingRun(std::filesystem::path run_dir, const TrainSettings& settings, Split data,
              Vocabulary vocab, std::vector<float> initial = {});
  // Continues run_dir from its last good checkpoint; the data must hash as recorded
  // there (InvalidArgument otherwise). threads > 0 overrides settings.execution.threads;
  // the checkpoint's device and thread count are not used (checkpoints hold the model only).
  static TrainingRun resume(std::filesystem::path run_dir, const TrainSettings& settings,
                            Split data, int threads = 0);
  ~TrainingRun();
  TrainingRun(TrainingRun&&) noexcept;

  // Trains until the epochs or the time budget are done, or `stop` becomes true (checked
  // between batches; a checkpoint is written before returning either way). A stop during a
  // checkpoint write lets that write finish and makes it the last one (it holds the state
  // the run stops at): no second write. Throws WriteCancelled when callbacks.abandon_write
  // abandons a checkpoint write.
  RunEnd run(const std::atomic<bool>& stop, const TrainCallbacks& callbacks);

  const RunState& state() const;
  const TrainSettings& settings() const;
  const Vocabulary& vocabulary() const;
  const Split& data() const;
  const lstm::Network& network() const;
  std::uint64_t data_hash() const;
  std::size_t batches_per_epoch() const;
  std::size_t windows() const;
  std::filesystem::path latest_checkpoint() const;  // empty before the first one
  // best_checkpoint_path(run_dir) when it exists (the run has had a validation), else empty.
  std::filesystem::path best_checkpoint() const;

 private:
  struct Impl;
  explicit TrainingRun(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  // Logged when the run starts: stale temporary files removed and checkpoints passed over.
  std::vector<std::string> resume_notes_;
};

// Reads run_dir/checkpoints/latest and falls back to older ckpt-*.safetensors files
// (newest first) when it is missing or does not load or holds non-finite weights.
// `skipped` (optional) receives one message per checkpoint passed over. Throws
// melodl::Error naming the directory when no checkpoint loads.
std::filesystem::path find_good_checkpoint(const std::filesystem::path& run_dir,
                                           std::vector<std::string>* skipped = nullptr);

// RUN/best.safetensors: the checkpoint of the epoch with the lowest validation bits/note,
// written atomically after each new best (not a resume candidate, never rotated away).
std::filesystem::path best_checkpoint_path(const std::filesystem::path& run_dir);

// A run directory or a checkpoint file -> the checkpoint file to load (a file is taken as
// it is; `choice` picks within a run directory).
std::filesystem::path resolve_checkpoint(const std::filesystem::path& path,
                                         std::vector<std::string>* skipped = nullptr,
                                         CheckpointChoice choice = CheckpointChoice::best);

}  // namespace melodl::pipeline
