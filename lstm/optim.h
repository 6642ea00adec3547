// lstm/optim.h: optimisers over the flat parameter buffer (one loop each), L2 and
// global-norm gradient clipping. Update rules, including DL4J 0.8/0.9's RMSProp order,
// are written out in docs/design.md ("Optimisers").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace melodl::lstm {

enum class OptimizerKind {
  sgd,           // w -= lr*v, v = momentum*v + g (classical momentum; momentum 0 = plain SGD)
  adam,          // Kingma & Ba with bias correction
  rmsprop,       // standard: s = d*s + (1-d)*g^2, w -= lr*g/(sqrt(s)+eps)
  dl4j_rmsprop,  // DL4J 0.8/0.9 order: RMSProp on the summed gradient, +l2*w post-apply, /B
};

std::string to_string(OptimizerKind kind);
OptimizerKind optimizer_kind_from_string(const std::string& name);  // throws InvalidArgument

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::adam;
  float lr = 1e-3f;
  float momentum = 0.9f;    // sgd
  float beta1 = 0.9f;       // adam
  float beta2 = 0.999f;     // adam
  float rms_decay = 0.95f;  // rmsprop, dl4j_rmsprop
  float eps = 1e-8f;        // adam, rmsprop, dl4j_rmsprop
  float l2 = 0.0f;          // L2 coefficient on weights (never biases); see design.md
  // Decoupled weight decay (AdamW, SGDW; every kind): before the rule, w *= 1 - lr*weight_decay
  // on weights (never biases). 0 = off.
  float weight_decay = 0.0f;
  float clip_norm = 0.0f;  // global gradient-norm clip; 0 = off
  // Weight averaging (an exponential moving average of the weights, Polyak-style): after
  // each update a = d*a + (1-d)*w with d = min(average, t/(t+9)) at update t (the first
  // update copies w); the averaged weights are an extra optimiser slot ("average"), saved
  // in checkpoints. 0 = off; else in (0, 1), e.g. 0.999.
  float average = 0.0f;

  void validate() const;  // throws InvalidArgument naming the field
};

// Holds the optimiser's per-parameter state (slots of the same size as the parameters).
class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, std::size_t num_params);

  const OptimizerConfig& config() const { return config_; }
  std::int64_t steps() const { return steps_; }

  // Changes the learning rate of the following updates (config().lr); the state slots and
  // the step count are kept (Adam's bias correction goes on from steps()). Throws
  // InvalidArgument naming the value unless it is finite and > 0. Not thread-safe: call it
  // between updates, on the thread that calls apply().
  void set_lr(float lr);

  // One update. grads are the gradient of the SUMMED loss over the segment; `count` is the
  // number of unmasked symbols and `sequences` the minibatch size B. Standard modes use the
  // mean gradient grads/count; dl4j_rmsprop uses the sum and divides the update by B.
  // weight_mask[k] = 1 where L2 applies. grads may be modified (clipping, scaling).
  // Returns the global gradient norm before clipping (of the gradient the mode uses).
  double apply(std::span<float> params, std::span<float> grads,
               std::span<const std::uint8_t> weight_mask, double count, int sequences);

  // The averaged weights (config().average > 0; empty when off): after steps() updates.
  std::span<const float> averaged() const;

  // State slots (for checkpoints): names and buffers.
  std::vector<std::string> slot_names() const;
  std::vector<std::vector<float>>& slots() { return slots_; }
  const std::vector<std::vector<float>>& slots() const { return slots_; }
  void set_steps(std::int64_t steps) { steps_ = steps; }

 private:
  OptimizerConfig config_;
  std::int64_t steps_ = 0;
  std::vector<std::vector<float>> slots_;
};

}  // namespace melodl::lstm
