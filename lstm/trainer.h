// lstm/trainer.h: truncated-BPTT training of a Network on the CPU (Eigen backend,
// multithreaded, deterministic for a given thread count) or, when the network's device is
// "cuda", on the GPU (lstm/cuda/, kernels/; deterministic on one GPU model).
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
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lstm/network.h"
#include "lstm/optim.h"
#include "lstm/reducer.h"
#include "lstm/rng.h"
#include "lstm/schedule.h"

namespace melodl::lstm {

// Dropout at training (docs/training.md "Regularisation and schedule"): inverted (kept values
// scaled by 1/(1-p)), masks drawn from Trainer::rng() per segment (with a reducer of several
// ranks: from a per-rank stream keyed by one number of rng(), so ranks drop different units
// and their rng() stay equal), never at evaluate/inference/sampling.
struct DropoutConfig {
  // p on every LSTM layer's output h as fed upwards: into the next layer's input and, for the
  // top layer, into the output layer (not on the recurrence). 0 = off.
  float output = 0.0f;
  // Variational: one mask per stream and segment, shared by every time step (Gal &
  // Ghahramani), instead of a new mask per step.
  bool variational = false;
  // p on h_{t-1} in the recurrent product h_{t-1} R (always variational: one mask per stream
  // and segment). 0 = off.
  float recurrent = 0.0f;

  bool active() const { return output > 0 || recurrent > 0; }
};

struct TrainConfig {
  OptimizerConfig optimizer;
  DropoutConfig dropout;      // default: off
  LrScheduleConfig schedule;  // default: off (the optimiser's rate, constant)
  int tbptt_fwd = 50;         // segment length (forward); 0 = the whole sequence batch
  int tbptt_bwd = 50;         // backward length, <= tbptt_fwd (DL4J uses equal); 0 = tbptt_fwd
  bool reset_state_per_batch = true;  // false: carry state across train_batch calls
  std::uint64_t seed = 12345;         // seeds Trainer::rng() (for the caller's shuffling)

  void validate() const;
  std::string to_json() const;
  static TrainConfig from_json(const std::string& text);
  // MelodyModelingExample v1: RMSProp 0.1 in DL4J's update order, decay 0.95, L2 0.001,
  // TBPTT 50/50 (use with 2 x 200 layers, minibatch 32, windows of 500 symbols).
  static TrainConfig melody_modeling_example();
};

// The dropout masks a Trainer draws from its rng() for one training segment of T steps x B
// streams of a network of `layers` x `hidden` (docs/training.md "Regularisation and schedule"),
// into `out`: the output masks [layers][T,B,H] (when d.output > 0) then the recurrent masks
// [layers][B,H] (when d.recurrent > 0); values 0 or 1/(1-p); returns the number of output-mask
// floats. One Rng::uniform() per value, in that order (variational output masks: [B,H] per layer,
// repeated for every step); kept when the draw is >= p. For tests and references.
std::size_t draw_dropout_masks(const DropoutConfig& d, int layers, int hidden, int T, int B,
                               Rng& rng, std::vector<float>& out);

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

// What Trainer::apply_update did.
struct UpdateReport {
  bool applied = false;         // the optimiser step ran
  bool finite_loss = true;      // the StepStats' loss_sum was finite
  bool finite_gradient = true;  // every gradient element was finite
  double grad_norm = 0;         // global norm of the gradient the mode uses, before clipping
  // What the update used: with a reducer the sums over all ranks, else the caller's values.
  double loss_sum = 0, count = 0;
  int sequences = 0;
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

// Device "cuda" (docs/design.md "CUDA backend"): parameters, gradient, optimiser slots and the
// carried state live on the GPU. The host views below are mirrors refreshed lazily when
// asked for: gradients(), optimizer() const, carried_state() and network().params() const
// download when the device copy is newer; the non-const optimizer(), mutable_gradients(),
// set_carried_state() and network().params() mark the host copy newer, and the next device
// operation uploads it. Each such download or upload costs a full copy (the parameter
// count in floats), so a training loop on "cuda" should use compute_gradients +
// apply_update (or train_batch) and read host copies only to log or checkpoint.
class TrainBackend;   // lstm/backend.h (internal): the CPU or the CUDA backend
struct DropoutMasks;  // lstm/backend.h (internal)

// Trainer::train_batch's per-segment hook, called after each segment's forward and backward
// instead of the update: gradients() holds the gradient of the segment's summed loss over its
// backward window, carried_state() the segment's final state. The hook decides what happens
// (typically checks, then apply_update(stats, segment.B)) and returns false to stop the batch
// (the remaining segments are not run).
using SegmentCallback = std::function<bool(const Batch& segment, const StepStats& stats)>;

class Trainer {
 public:
  Trainer(Network network, const TrainConfig& config);
  ~Trainer();
  Trainer(Trainer&&) noexcept;
  Trainer& operator=(Trainer&&) noexcept;

  const Network& network() const { return network_; }
  Network& network() { return network_; }
  const TrainConfig& config() const { return config_; }
  // "cuda": the slots are a host mirror (see the class comment).
  Optimizer& optimizer();
  const Optimizer& optimizer() const;
  // Optimizer::set_lr without touching the slots: on "cuda" no slot copy either way (the
  // non-const optimizer() would download and later re-upload them).
  // With a schedule (config().schedule.active()) it sets the base rate the schedule scales.
  void set_learning_rate(float lr);
  // The schedule's base rate (config().optimizer.lr, or the last set_learning_rate).
  float base_learning_rate() const { return base_lr_; }
  // Sets the rate of the next updates to `lr` (the live view's request): with a plateau
  // schedule the base becomes lr / factor^reductions, so the reductions go on from `lr`
  // (LrSchedule::base_for); otherwise set_learning_rate(lr).
  void set_current_learning_rate(float lr) { set_learning_rate(schedule_.base_for(lr)); }
  // The rate the next update uses (the schedule's value at step_count(), or the optimiser's).
  float learning_rate() const;
  // Reduce-on-plateau: the caller reports each validation score (lower is better, e.g.
  // bits per symbol); returns true when this report lowered the rate (after `patience`
  // reports without improvement). Other schedules: no effect, returns false. Saved in
  // checkpoints ("lstm.schedule").
  bool report_validation(double score) { return schedule_.report(score); }
  const LrSchedule& schedule() const { return schedule_; }
  LrSchedule& schedule() { return schedule_; }
  // Updates applied so far (one per segment).
  std::int64_t step_count() const { return optimizer_.steps(); }
  // A seeded RNG owned by the trainer and saved in checkpoints, for the caller's data order.
  Rng& rng() { return rng_; }
  const Rng& rng() const { return rng_; }

  // The state carried between train_batch calls (used when reset_state_per_batch is false;
  // batch 0 before the first call). Saved in and restored from checkpoints.
  const State& carried_state() const;
  void set_carried_state(State state);

  // Trains on one sequence batch: segments of tbptt_fwd, one update each. Throws
  // InvalidArgument on bad shapes/symbols.
  StepStats train_batch(const Batch& batch);
  // The same segments and state, but each segment's update is on_segment's (see
  // SegmentCallback); the StepStats sum loss and count of the segments run (no score).
  StepStats train_batch(const Batch& batch, const SegmentCallback& on_segment);
  // One TBPTT segment from `state` (updated to the segment's final state) + one update.
  StepStats train_segment(const Batch& segment, State& state);
  // Loss only (no update), state reset at the start; segments of tbptt_fwd.
  StepStats evaluate(const Batch& batch);

  // Forward + backward of one segment without an update: fills gradients() with the gradient
  // of the SUMMED cross-entropy over the last `bwd` steps' window (0 = all). With
  // apply_update, the building block of training loops that check each step (on "cuda" the
  // gradient stays on the device; `state` is uploaded and the final state downloaded).
  StepStats compute_gradients(const Batch& segment, State& state, int bwd = 0);
  std::span<const float> gradients() const;
  // Writable host copy of the gradient (e.g. to inject a fault in a test); on "cuda" it is
  // uploaded again before the next apply_update.
  std::span<float> mutable_gradients();

  // After compute_gradients(segment, ...) returned `stats`: checks that stats.loss_sum and
  // the gradient are finite and, only then and when stats.count > 0, applies one optimiser
  // update with the arithmetic of Optimizer::apply (count = stats.count, minibatch
  // `sequences`; on "cuda" the fused device step, the norm reduced on the device). The
  // gradient itself is left unchanged (gradients() still returns the summed gradient).
  // grad_norm is the global norm of the gradient the mode uses (the mean for sgd, adam,
  // rmsprop; the sum for dl4j_rmsprop) before clipping, also when the update is skipped.
  // Throws InvalidArgument when no gradient was computed yet or sequences < 1.
  UpdateReport apply_update(const StepStats& stats, int sequences);
  // Whether every parameter is finite (on "cuda" a device sum of squares, no parameter copy;
  // a float overflow there, |w| beyond ~1e19, also reads as non-finite).
  bool parameters_finite() const;

  // Data-parallel training (lstm/reducer.h, docs/distributed.md); nullptr (the default) =
  // one process. With a reducer, apply_update first sums the gradient, loss, count and
  // sequences over the ranks (a rank may pass sequences 0: a rank with no window this batch
  // computes on an all-masked one), and train_batch(batch) is compute + apply_update per
  // segment; train_segment refuses (it has no separate update). Not owned.
  void set_reducer(GradientReducer* reducer) { reducer_ = reducer; }
  GradientReducer* reducer() const { return reducer_; }
  // The root rank's weights and optimiser slots to every rank (a no-op without a reducer).
  void broadcast_from_root(int root = 0);

 private:
  // The TBPTT loop over a sequence batch (train_batch's two forms).
  StepStats run_batch(const Batch& batch, const SegmentCallback* on_segment);
  // Before an update: the schedule's rate into the optimiser (nothing when it is off).
  void schedule_update();
  // The dropout masks of a training segment of T x B (empty when dropout is off).
  DropoutMasks draw_dropout(int T, int B);

  Network network_;
  TrainConfig config_;
  mutable Optimizer optimizer_;  // "cuda": slots are a host mirror
  Rng rng_;
  float base_lr_ = 0;
  LrSchedule schedule_;
  std::vector<float> dropout_masks_;
  std::unique_ptr<TrainBackend> backend_;  // where segments run (the network's device)
  GradientReducer* reducer_ = nullptr;
};

}  // namespace melodl::lstm
