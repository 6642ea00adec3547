// lstm/cpu/stepper.h: one time step of a Network for a few streams on the CPU, the sampler's
// inner loop (internal). Sampling is latency-bound: per symbol and layer a [B,K] x [K,4H]
// product whose weights (1.9 MB for 2 x 200) do not fit one core's L2. The stepper splits the
// hidden units over a ThreadTeam (thread k owns units [u0,u1) of every layer and a column range
// of the output layer), packs each thread's columns of W, R, the bias and the peepholes into
// its own contiguous buffers once per load(), and multiplies with a register-blocked kernel
// that streams them: each thread's share stays in its own core's cache.
//
// Exactness: every output column is summed in one fixed order (bias, the gathered or dense
// input rows k = 0..I-1, then the recurrent rows k = 0..H-1, each with one fused multiply-add),
// whatever the thread count, the batch size, the row's position in the batch or the column's
// position in a register block. So a stream's symbols do not depend on how many streams are
// sampled with it nor on the thread count. The values differ from Network::step (Eigen's
// order) by rounding only (tests/lstm/sampler_test.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "lstm/aligned.h"
#include "lstm/cpu/thread_team.h"
#include "lstm/network.h"

namespace melodl::lstm::cpu {

class Stepper {
 public:
  // Up to `threads` threads; fewer for a small network (about 64 hidden units per thread).
  Stepper(const NetworkConfig& config, int threads);

  // Packs the network's current weights (call again after they change). net must have the
  // config given at construction.
  void load(const Network& net);

  // One step: symbols [B] in, state [B,H] per layer updated, logits [B,V] out (as
  // Network::step, up to rounding).
  void step(std::span<const std::int32_t> symbols, State& state, std::span<float> logits);

  int threads() const { return team_.size(); }

 private:
  struct Part {
    int u0 = 0, u1 = 0, n = 0;  // hidden units
    int v0 = 0, v1 = 0;         // output columns
    // per layer: W [I,4n] (layer 0: [V,4n], gathered), R [H,4n], bias [4n], peepholes [3n]
    std::vector<AlignedFloats> W, R, bias, peep;
    AlignedFloats Wy, by;  // [H, v1-v0], [v1-v0]
    AlignedFloats z;       // [B, 4n] pre-activations of the current layer
  };
  void run_part(int tid, std::span<const std::int32_t> symbols, State& state,
                std::span<float> logits);

  NetworkConfig config_;
  ThreadTeam team_;
  std::vector<Part> parts_;
  std::vector<AlignedFloats> hnew_;  // per layer [B,H]: this step's h (own units per thread)
  int B_ = 0;
};

}  // namespace melodl::lstm::cpu
