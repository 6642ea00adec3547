// lstm/backend.h: the private interface between Trainer (lstm/trainer.cpp: the one TBPTT loop)
// and the backends that compute a segment: the CPU (lstm/cpu/trainer_backend.h, Eigen over a
// thread team) and CUDA (lstm/cuda/trainer_backend.cpp, over lstm/cuda/backend.h). Internal:
// not installed; the public headers only forward-declare TrainBackend.
//
// A backend owns the gradient buffer, the recurrent states a segment starts from and the
// mirrors of whatever lives elsewhere (on CUDA: gradient, optimiser slots, carried state are
// authoritative on the device; the host views are refreshed lazily). The Network and the
// Optimizer stay the Trainer's and are passed to every call (a Trainer may move).
#pragma once

#include <memory>
#include <span>

#include "lstm/network.h"
#include "lstm/optim.h"
#include "lstm/trainer.h"

namespace melodl::lstm {

// Which recurrent state a segment starts from and leaves its final state in: the trainer's
// carried state (train_batch), or a scratch state (evaluate, and calls with a caller's State,
// which load_scratch / store_scratch copy in and out).
enum class StateSlot { carried, scratch };

// What a segment computes: the loss only; the loss and the gradient of the summed loss over
// the last `bwd` steps; or that plus one optimiser update with train_segment's arithmetic
// (the update's StepStats carry score and grad_norm).
enum class Pass { forward, gradients, update };

// A training segment's dropout masks (docs/training.md "Regularisation and schedule"), values 0 or
// 1/(1-p), drawn by the Trainer; an empty span = that dropout is off.
struct DropoutMasks {
  // [NL][T,B,H]: multiplies layer l's output h_t as fed to layer l+1 / the output layer.
  std::span<const float> output;
  // [NL][B,H]: multiplies layer l's h_{t-1} in the recurrent product, for every t.
  std::span<const float> recurrent;
};

class TrainBackend {
 public:
  virtual ~TrainBackend() = default;

  // Prepares the carried state for a sequence batch of B streams: zeroes it when `reset` or
  // when it holds another batch size, keeps it otherwise.
  virtual void begin_batch(const Network& net, int B, bool reset) = 0;
  virtual void zero_scratch(const Network& net, int B) = 0;
  virtual void load_scratch(const Network& net, const State& state) = 0;
  virtual void store_scratch(const Network& net, State& state) = 0;

  // One segment (validated by the caller) from `slot`. Pass::update applies one update to
  // net's parameters and opt's slots and advances opt's step count. `drop` is empty for
  // Pass::forward.
  virtual StepStats segment(Network& net, Optimizer& opt, const Batch& segment, StateSlot slot,
                            int bwd, Pass pass, const DropoutMasks& drop) = 0;

  virtual bool has_gradients() const = 0;
  // Host copy of the gradient; mutable_gradients() marks it newer than any other copy.
  virtual std::span<const float> gradients(const Network& net) = 0;
  virtual std::span<float> mutable_gradients(const Network& net) = 0;
  // Refreshes opt's slots from wherever they are newer; `will_write` marks the host copy
  // newer (the caller may change it).
  virtual void slots_to_host(const Network& net, Optimizer& opt, bool will_write) = 0;
  virtual const State& carried_state(const Network& net) = 0;
  virtual void set_carried_state(State state) = 0;

  // Sum of squares of the gradient (double accumulation; non-finite when any element is).
  virtual double gradient_sumsq(const Network& net) = 0;
  // Trainer::apply_update after its checks passed: one update from the current gradient
  // (left unchanged) scaled by `scale` (1/count or 1 for dl4j_rmsprop), whose squared sum is
  // `sumsq`; returns the norm the update used, before clipping.
  virtual double apply_gradient(Network& net, Optimizer& opt, const StepStats& stats, int sequences,
                                double scale, double sumsq) = 0;
  virtual bool parameters_finite(const Network& net) = 0;
};

// The CPU backend (lstm/cpu/trainer_backend.cpp) and the CUDA backend
// (lstm/cuda/trainer_backend.cpp; a CPU-only build's stand-in throws).
std::unique_ptr<TrainBackend> make_cpu_backend(const Network& net,
                                               std::span<const std::uint8_t> weight_mask);
std::unique_ptr<TrainBackend> make_cuda_backend(const Network& net, const OptimizerConfig& config,
                                                std::span<const std::uint8_t> weight_mask,
                                                const Optimizer& opt);

}  // namespace melodl::lstm
