// examples/train_output.h: what `melodl train` prints: the progress line on stderr (redrawn
// in place on a terminal, every 10 s otherwise), the run's summary before training, one line
// per epoch, the novelty of the last samples and the closing summary.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

#include "examples/progress.h"
#include "pipeline/train_session.h"

namespace melodl::cli {

// Extraction of MIDI inputs shown as a progress bar, recovered and skipped files reported on
// stderr (none of it when quiet).
pipeline::InputEvents extraction_events(bool quiet);

// "1h05m", "3m20s", "42s"; "?" for negative.
std::string format_seconds(double s);

class TrainProgress {
 public:
  explicit TrainProgress(bool quiet);
  void update(const pipeline::ProgressInfo& p);
  void clear();  // removes the line (terminal), before other output

 private:
  bool quiet_, tty_, drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// The data, the model and (resuming) where the run continues.
void print_run_header(const pipeline::TrainSession& session);
// "epoch 3: train 2.345 bits/symbol, valid ... -> DIR/"
void print_epoch(const pipeline::TrainSession& session, const pipeline::EpochMetrics& m,
                 bool samples_written);
void print_novelty(const pipeline::SessionResult& result);
void print_done(const pipeline::TrainSession& session);
// SIGINT/SIGTERM while a run trains (one object at a time: handlers are process-wide): the
// first sets stop_flag() (the run stops after its minibatch or checkpoint write), a second
// makes abandon_write() true (TrainCallbacks::abandon_write). restore() (also on
// destruction) puts back the default handlers.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals() { restore(); }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  std::atomic<bool>& stop_flag();
  static bool abandon_write();  // a second signal came
  static const char* cause();   // "SIGTERM" or "SIGINT": the last signal
  void restore();
};

// After a run stopped early (`end` not finished) by `cause` ("SIGTERM" or "SIGINT"): which
// checkpoint was written or kept, and how to continue.
void print_stopped(const pipeline::TrainSession& session, pipeline::RunEnd end,
                   const std::string& cause);

}  // namespace melodl::cli
