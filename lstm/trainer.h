// lstm/trainer.h: truncated-BPTT training of a Network on the CPU (Eigen backend,
// multithreaded, deterministic for a given thread count).
//
// A sequence batch (T steps x B streams, time-major) is split into segments of tbptt_fwd
// steps; each segment runs forward from the previous segment's state, backpropagates over
// its last tbptt_bwd steps only (no gradient crosses a segment boundary), then applies one
// optimiser update. State resets to zero at the start of each sequence batch (DL4J).
//
// Example:
//   Trainer trainer(Network(net_cfg), TrainConfig::melody_modeling_example());
//   Batch batch{T, B, inputs, targets, {}};        // [T,B] symbols each
//   StepStats s = trainer.train_batch(batch);      // s.mean_nats(), s.bits_per_symbol()
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "lstm/network.h"
#include "lstm/optim.h"
#include "lstm/rng.h"

namespace melodl::lstm {

struct TrainConfig {
  OptimizerConfig optimizer;
  int tbptt_fwd = 50;  // segment length (forward); 0 = the whole sequence batch
  int tbptt_bwd = 50;  // backward length, <= tbptt_fwd (DL4J uses equal); 0 = tbptt_fwd
  bool reset_state_per_batch = true;  // false: carry state across train_batch calls
  std::uint64_t seed = 12345;         // seeds Trainer::rng() (for the caller's shuffling)

  void validate() const;
  std::string to_json() const;
  static TrainConfig from_json(const std::string& text);
  // MelodyModelingExample v1: RMSProp 0.1 in DL4J's update order, decay 0.95, L2 0.001,
  // TBPTT 50/50 (use with 2 x 200 layers, minibatch 32, windows of 500 symbols).
  static TrainConfig melody_modeling_example();
};

// MelodyModelingExample's network: 2 x 200 GravesLSTM with peepholes, seed 12345.
NetworkConfig melody_modeling_network(int vocab);

// One sequence batch, time-major. inputs/targets [T,B] symbols in [0,V); mask [T,B] weights
// in {0,1} (empty = all ones; masked positions add no loss and no gradient, but the forward
// still runs through them, so pad at the END of shorter windows).
struct Batch {
  int T = 0, B = 0;
  std::span<const std::int32_t> inputs;
  std::span<const std::int32_t> targets;
  std::span<const float> mask;
};

struct StepStats {
  double loss_sum = 0;   // summed cross-entropy (nats) over unmasked positions
  double count = 0;      // unmasked positions
  double score = 0;      // DL4J score: (sum CE + 0.5*l2*sum w^2) / B, summed over segments
  double grad_norm = 0;  // global gradient norm of the last segment (before clipping)
  int segments = 0;
  double mean_nats() const { return count > 0 ? loss_sum / count : 0.0; }
  double bits_per_symbol() const { return mean_nats() / 0.6931471805599453; }
};

class Trainer {
 public:
  Trainer(Network network, const TrainConfig& config);
  ~Trainer();
  Trainer(Trainer&&) noexcept;
  Trainer& operator=(Trainer&&) noexcept;

  const Network& network() const { return network_; }
  Network& network() { return network_; }
  const TrainConfig& config() const { return config_; }
  Optimizer& optimizer() { return optimizer_; }
  const Optimizer& optimizer() const { return optimizer_; }
  // Updates applied so far (one per segment).
  std::int64_t step_count() const { return optimizer_.steps(); }
  // A seeded RNG owned by the trainer and saved in checkpoints, for the caller's data order.
  Rng& rng() { return rng_; }
  const Rng& rng() const { return rng_; }

  // The state carried between train_batch calls (used when reset_state_per_batch is false;
  // batch 0 before the first call). Saved in and restored from checkpoints.
  const State& carried_state() const { return carried_; }
  void set_carried_state(State state) { carried_ = std::move(state); }

  // Trains on one sequence batch: segments of tbptt_fwd, one update each. Throws
  // InvalidArgument on bad shapes/symbols.
  StepStats train_batch(const Batch& batch);
  // One TBPTT segment from `state` (updated to the segment's final state) + one update.
  StepStats train_segment(const Batch& segment, State& state);
  // Loss only (no update), state reset at the start; segments of tbptt_fwd.
  StepStats evaluate(const Batch& batch);

  // Forward + backward of one segment without an update: fills gradients() with the gradient
  // of the SUMMED cross-entropy over the last `bwd` steps' window (0 = all). For tests/benches.
  StepStats compute_gradients(const Batch& segment, State& state, int bwd = 0);
  std::span<const float> gradients() const;

 private:
  struct Impl;
  Network network_;
  TrainConfig config_;
  Optimizer optimizer_;
  Rng rng_;
  State carried_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace melodl::lstm
