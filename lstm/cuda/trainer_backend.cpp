// lstm/cuda/trainer_backend.cpp: the CUDA training backend (lstm/backend.h) over the device
// trainer of lstm/cuda/backend.h. Gradient, optimiser slots and the carried state are
// authoritative on the device while training; the host copies are mirrors, and each mirrored
// buffer remembers which copy is newer (docs/design.md "CUDA backend").
#include <algorithm>
#include <cmath>

#include "lstm/backend.h"
#include "lstm/cuda/backend.h"

namespace melodl::lstm {

namespace {

// Which copy of a mirrored buffer is newer (none: both equal, or nothing computed yet).
enum class Newer { none, host, device };

double mask_count(const Batch& b) {
  if (b.mask.empty()) return static_cast<double>(b.T) * b.B;
  double count = 0;
  for (float m : b.mask)
    if (m != 0.0f) count += m;
  return count;
}

cudabk::StateSlot device_slot(StateSlot slot) {
  return slot == StateSlot::carried ? cudabk::StateSlot::carried : cudabk::StateSlot::scratch;
}

}  // namespace

class CudaTrainBackend final : public TrainBackend {
 public:
  CudaTrainBackend(const Network& n, const OptimizerConfig& config,
                   std::span<const std::uint8_t> mask, const Optimizer& opt) {
    auto& dn = net(n);
    dt_ = std::make_unique<cudabk::DeviceTrainer>(dn, config, mask);
    dt_->upload_slots(dn, opt.slots());
  }

  // The carried state stays on the device between calls; carried_state() downloads it.
  void begin_batch(const Network& n, int B, bool reset) override {
    auto& dn = net(n);
    const int held = carried_newer_ == Newer::device ? dt_->state_batch(cudabk::StateSlot::carried)
                                                     : carried_.batch;
    if (reset || held != B) {
      dt_->zero_state(dn, cudabk::StateSlot::carried, B);
    } else if (carried_newer_ == Newer::host) {
      dt_->upload_state(dn, cudabk::StateSlot::carried, carried_);
    }
    carried_newer_ = Newer::device;
  }
  void zero_scratch(const Network& n, int B) override {
    dt_->zero_state(net(n), cudabk::StateSlot::scratch, B);
  }
  void load_scratch(const Network& n, const State& state) override {
    dt_->upload_state(net(n), cudabk::StateSlot::scratch, state);
  }
  void store_scratch(const Network& n, State& state) override {
    dt_->download_state(net(n), cudabk::StateSlot::scratch, state);
  }

  StepStats segment(Network& n, Optimizer& opt, const Batch& seg, StateSlot slot, int bwd,
                    Pass pass, const DropoutMasks& drop) override {
    MELODL_CHECK(drop.recurrent.empty(),
                 "[Trainer (cuda)] recurrent dropout is not supported by the CUDA backend yet");
    using cudabk::Scalar;
    auto& dn = net(n);
    const bool backward = pass != Pass::forward, update = pass == Pass::update;
    dt_->enqueue_segment(dn, seg, device_slot(slot), backward ? bwd : 0, backward, drop.output);
    StepStats s;
    s.count = mask_count(seg);
    s.segments = 1;
    if (backward) {
      have_grads_ = true;
      grads_newer_ = Newer::device;
    }
    int runs = 0;
    if (update) {
      const auto& oc = opt.config();
      if (oc.l2 > 0) runs = dt_->enqueue_weight_sumsq(dn);
      sync_device_slots(n, opt);
      const bool dl4j = oc.kind == OptimizerKind::dl4j_rmsprop;
      const float scale = dl4j ? 1.0f : (s.count > 0 ? static_cast<float>(1.0 / s.count) : 0.0f);
      dt_->enqueue_update(dn, oc, scale, oc.clip_norm, true, seg.B, opt.steps() + 1);
      opt.set_steps(opt.steps() + 1);
      params_written(n);
      slots_newer_ = Newer::device;
    }
    const std::vector<double> sc =
        dt_->read_scalars(dn, update ? Scalar::kWeightSq + runs : Scalar::kLoss + 1);
    s.loss_sum = sc[Scalar::kLoss];
    if (update) {
      s.grad_norm = sc[Scalar::kNorm];
      double sq = 0;
      for (int k = 0; k < runs; ++k) sq += sc[Scalar::kWeightSq + k];
      s.score = opt.config().l2 > 0 ? (s.loss_sum + 0.5 * opt.config().l2 * sq) / seg.B
                                    : s.loss_sum / seg.B;
    }
    return s;
  }

  bool has_gradients() const override { return have_grads_; }
  std::span<const float> gradients(const Network& n) override {
    sync_host_grads(n);
    return grads_;
  }
  std::span<float> mutable_gradients(const Network& n) override {
    sync_host_grads(n);
    if (have_grads_) grads_newer_ = Newer::host;
    return grads_;
  }
  void slots_to_host(const Network& n, Optimizer& opt, bool will_write) override {
    if (slots_newer_ == Newer::device) {
      dt_->download_slots(net(n), opt.slots());
      slots_newer_ = Newer::none;
    }
    if (will_write) slots_newer_ = Newer::host;
  }
  const State& carried_state(const Network& n) override {
    if (carried_newer_ == Newer::device) {
      dt_->download_state(net(n), cudabk::StateSlot::carried, carried_);
      carried_newer_ = Newer::none;
    }
    return carried_;
  }
  void set_carried_state(State state) override {
    carried_ = std::move(state);
    carried_newer_ = Newer::host;
  }

  double gradient_sumsq(const Network& n) override {
    auto& dn = net(n);
    sync_device_grads(n);
    dt_->enqueue_grad_sumsq(dn);
    return dt_->read_scalars(dn, cudabk::Scalar::kGradSq + 1)[cudabk::Scalar::kGradSq];
  }
  double apply_gradient(Network& n, Optimizer& opt, const StepStats&, int sequences, double scale,
                        double sumsq) override {
    auto& dn = net(n);
    const auto& oc = opt.config();
    sync_device_slots(n, opt);
    // the norm is known: clip by scaling, with no second reduction on the device
    const float fscale = static_cast<float>(scale);
    const double norm = std::sqrt(sumsq) * std::abs(static_cast<double>(fscale));
    const float clip =
        oc.clip_norm > 0 && norm > oc.clip_norm ? static_cast<float>(oc.clip_norm / norm) : 1.0f;
    dt_->enqueue_update(dn, oc, fscale * clip, 0.0f, false, sequences, opt.steps() + 1);
    opt.set_steps(opt.steps() + 1);
    params_written(n);
    slots_newer_ = Newer::device;
    return norm;
  }
  bool parameters_finite(const Network& n) override {
    auto& dn = net(n);
    dt_->enqueue_param_sumsq(dn);
    return std::isfinite(
        dt_->read_scalars(dn, cudabk::Scalar::kParamSq + 1)[cudabk::Scalar::kParamSq]);
  }

 private:
  // The network's DeviceNet with the parameters current on the device.
  static cudabk::DeviceNet& net(const Network& n) {
    MELODL_CHECK(n.device_ != nullptr,
                 "[Trainer] the trainer runs on \"cuda\" but its network was replaced by one on "
                 "the CPU");
    auto& d = *n.device_;
    if (d.device_stale) {
      d.net.upload_params(n.params_.data());
      d.device_stale = false;
    }
    return d.net;
  }
  static void params_written(const Network& n) { n.device_->host_stale = true; }

  void sync_host_grads(const Network& n) {
    if (grads_newer_ != Newer::device) return;
    grads_.resize(n.num_params());
    dt_->download_grads(net(n), grads_.data());
    grads_newer_ = Newer::none;
  }
  void sync_device_grads(const Network& n) {
    if (grads_newer_ != Newer::host) return;
    dt_->upload_grads(net(n), grads_.data());
    grads_newer_ = Newer::none;
  }
  void sync_device_slots(const Network& n, const Optimizer& opt) {
    if (slots_newer_ != Newer::host) return;
    dt_->upload_slots(net(n), opt.slots());
    slots_newer_ = Newer::none;
  }

  std::unique_ptr<cudabk::DeviceTrainer> dt_;
  AlignedFloats grads_;  // host mirror of the device gradient
  bool have_grads_ = false;
  State carried_;  // host mirror of the device's carried state
  Newer grads_newer_ = Newer::none, slots_newer_ = Newer::none, carried_newer_ = Newer::host;
};

std::unique_ptr<TrainBackend> make_cuda_backend(const Network& net, const OptimizerConfig& config,
                                                std::span<const std::uint8_t> weight_mask,
                                                const Optimizer& opt) {
  return std::make_unique<CudaTrainBackend>(net, config, weight_mask, opt);
}

}  // namespace melodl::lstm
