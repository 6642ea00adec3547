// lstm/cost.h: how much arithmetic one training update (forward, backward and optimiser step
// over one TBPTT segment) costs, and how long it will take on this CPU, estimated before the
// network is built. Lets a program refuse `--hidden 8000 --time-budget 5s` at once, saying
// that one update alone takes minutes, instead of overrunning the budget by minutes (the
// budget can only be checked between updates).
//
// The FLOP count is docs/design.md's ("FLOP count"): per (step, sequence) and layer 24*H^2
// for the recurrent products, 24*H*I for a layer fed by a dense input (layer 0's one-hot
// input is a gather, counted 0), and 6*H*V for the output layer; pointwise work counts 0.
//
// Example:
//   const double flops = melodl::lstm::training_update_flops(net, train, /*batch=*/32);
//   const double rate = melodl::lstm::measure_cpu_flops(/*threads=*/2);  // ~5 ms probe
//   if (melodl::lstm::update_seconds(flops, rate) > budget_s) refuse();
#pragma once

#include <cstdint>
#include <string>

#include "lstm/network.h"
#include "lstm/trainer.h"

namespace melodl::lstm {

// FLOPs per (step, sequence) of training (forward + backward) and of inference.
double train_flops_per_symbol(int layers, int hidden, int vocab);
double infer_flops_per_symbol(int layers, int hidden, int vocab);

// FLOPs of one update with `batch` sequences and config's TBPTT segment (a segment length of
// 0 takes `sequence_length` steps).
double training_update_flops(const NetworkConfig& net, const TrainConfig& train, int batch,
                             std::int64_t sequence_length = 0);

// An optimistic FLOP rate of this CPU with `threads` threads: the best of a few single-thread
// matrix products (the CPU backend's kind, ~5 ms in all) times the thread count. Real training
// runs below it, so a time estimated with it is a lower bound.
double measure_cpu_flops(int threads);

// Seconds one update takes at `flops_per_s` (a lower bound when the rate is optimistic).
inline double update_seconds(double flops, double flops_per_s) {
  return flops_per_s > 0 ? flops / flops_per_s : 0.0;
}

// "45 s", "3.2 min", "1.5 h": for messages.
std::string format_seconds(double seconds);

}  // namespace melodl::lstm
