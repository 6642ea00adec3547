// pipeline/run_checkpoints.h (internal to melodl_pipeline): finding the checkpoint a
// training run continues from. A run directory keeps rotating checkpoints
// (checkpoints/ckpt-<attempt>.safetensors) and a `latest` file naming the newest; resume and
// the reload after a numerical failure take the newest one that loads, has finite weights
// and passes the caller's checks, and report every one they passed over and why.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/files.h"
#include "lstm/checkpoint.h"
#include "pipeline/training.h"

namespace melodl::pipeline::detail {

// True when every value is finite.
bool all_finite(std::span<const float> v);

// The run's checkpoint files (ckpt-*.safetensors in `dir`), oldest first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& dir);

struct GoodCheckpoint {
  std::filesystem::path path;
  lstm::LoadedCheckpoint ck;
};

// Thrown by a `check` of load_good when the checkpoint does not belong to this run's data:
// no other checkpoint of the run can do better, so load_good lets it through.
struct RunMismatch : InvalidArgument {
  using InvalidArgument::InvalidArgument;
};

// The newest checkpoint of `run_dir` that loads, has finite weights and passes `check`
// (which throws to reject one); each rejected file and its reason is appended to `skipped`.
// Throws InvalidArgument "no loadable checkpoint in ..." listing every reason when none does.
GoodCheckpoint load_good(const std::filesystem::path& run_dir, std::vector<std::string>* skipped,
                         const std::function<void(const GoodCheckpoint&)>& check = {});

// The cancel check of a checkpoint write (to `path`) of a run that may be stopping: the first
// time it finds `stop` set it logs that the run stops once `path` is written (a second stop
// would keep `previous`); it returns what cb.abandon_write says. `stop` and `cb` must outlive
// it. docs/training.md "A signal during a checkpoint write".
CancelCheck stoppable_write(const std::filesystem::path& path,
                            const std::filesystem::path& previous, const std::atomic<bool>& stop,
                            const TrainCallbacks& cb);

// Throws InvalidArgument "run state: ..." unless `st` describes a place in a run whose epochs
// have `batches` batches (epoch >= 0, next batch within the epoch, finite non-negative
// counters and rate).
void check_run_state(const RunState& st, std::size_t batches);

}  // namespace melodl::pipeline::detail
