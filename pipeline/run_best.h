// pipeline/run_best.h (internal to melodl_pipeline): the best checkpoint of a training run
// and early stopping. After each validation the run state records whether it is a new best
// (lowest validation bits/note) and how many validations have passed since; a new best's
// weights are written to RUN/best.safetensors (best_checkpoint_path) after that epoch's
// checkpoint and `latest`; --patience N ends the run N validations after the best. On resume
// (and on a reload after non-finite values) the file is made to agree with the run state the
// run continues from. Docs: docs/training.md "Best checkpoint and early stopping".
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/training.h"

namespace melodl::pipeline::detail {

// Records epoch m's validation in `st`: a new best when its bits/note is finite, > 0 and
// lower than the best so far (returns true; the count since the best restarts), else one
// more validation since the best.
bool record_validation(RunState& st, const EpochMetrics& m);

// Whether `patience` (> 0) validations have passed since the best one.
bool patience_spent(const RunState& st, int patience);

// "no new best in the last N validations (best: epoch E, X bits/note): stopping early".
std::string early_stop_message(const RunState& st);

// Throws InvalidArgument when a new run cannot start in run_dir: it holds a best.safetensors
// (of an earlier run), or --patience or the plateau schedule is set without validation data.
void check_new_run(const std::filesystem::path& run_dir, const TrainSettings& settings,
                   bool has_validation);

// "learning rate reduced to R (--lr-schedule plateau: N validations without improvement)".
std::string plateau_message(const lstm::Trainer& trainer);

// RUN/best.safetensors against the run state `st` the run continues from: kept when it
// records the same best; otherwise rewritten by `write_best` when the weights in hand are
// the best ones (`weights_are_best`: a run killed between a new best's checkpoint and this
// file), else removed (it belongs to epochs after the checkpoint resumed from; the next new
// best writes it again). Returns a note for the log, "" when the file already agreed.
std::string reconcile_best(const std::filesystem::path& run_dir, const RunState& st,
                           bool weights_are_best, const std::function<void()>& write_best);

// The run's best checkpoint when it exists, loads and holds finite weights; otherwise nullopt,
// with the reason appended to `skipped` when it exists.
std::optional<std::filesystem::path> usable_best(const std::filesystem::path& run_dir,
                                                 std::vector<std::string>* skipped);

}  // namespace melodl::pipeline::detail
