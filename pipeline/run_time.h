// pipeline/run_time.h (internal to melodl_pipeline): the time check of a training run before
// it starts. A --time-budget is checked between minibatches, so a run refuses a budget
// shorter than one minibatch, estimated from its FLOPs (lstm/cost.h, the design's FLOP count)
// at this CPU's best rate (a ~5 ms GEMM probe). Docs: docs/training.md "Time".
#pragma once

#include <cstddef>
#include <string>

#include "pipeline/training.h"

namespace melodl::pipeline::detail {

// Throws InvalidArgument "<what>: one batch (...) takes at least X s ..." when one batch of
// `flops` at `flops_per_s` (an optimistic rate, so the time is a lower bound) exceeds
// `budget_s` (> 0); without a budget returns a note when one batch takes over a minute, else "".
std::string check_batch_time(double flops, double flops_per_s, double budget_s,
                             const std::string& what);

// The check for a run of `settings` on windows of at most `longest_window` steps (`windows`
// of them) over `vocab` symbols: on the CPU backend, probes the rate when one batch is over
// 10 GFLOP and calls the above; "" on the GPU.
std::string check_run_time(const TrainSettings& settings, int vocab, std::size_t longest_window,
                           std::size_t windows, double budget_s);

}  // namespace melodl::pipeline::detail
