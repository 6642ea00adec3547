// lstm/cuda/backend.h: the internal interface between melodl::lstm's public classes
// (Network, Trainer) and its CUDA backend. CUDA-free and not installed: the public headers
// only forward-declare Network::DeviceCopy and Trainer::DeviceImpl. Implemented in CUDA builds
// on the launchers of kernels/ by lstm/cuda/device_net.cpp (DeviceNet: parameters, inference,
// sampling sessions), lstm/cuda/device_trainer.cpp (DeviceTrainer: buffers, uploads, CUDA
// graphs, reductions, optimiser step, host copies) and lstm/cuda/segment.cpp (one segment's
// forward, loss and backward), over the shared pieces in device_util.h, device_net.h and
// device_trainer.h; in CPU-only builds by lstm/cuda/no_cuda.cpp (use_cuda(Device::cuda)
// throws "built without CUDA", nothing else is reachable).
//
// Design (docs/design.md "CUDA backend"): the device copy of the parameters, the gradient,
// the optimiser slots and the carried recurrent state are authoritative while training on
// the GPU; the host copies (Network::params(), Trainer::gradients(), optimizer().slots(),
// carried_state()) are mirrors refreshed lazily when a host accessor asks for them. A
// non-const host accessor marks the host copy newer, and the next device operation uploads
// it. Every public operation synchronises the stream before it returns, so a host buffer is
// never read or written by the device after the call that used it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lstm/network.h"
#include "lstm/optim.h"
#include "lstm/trainer.h"

namespace melodl::lstm::cudabk {

// Resolves ExecutionOptions::device: cpu -> false; automatic -> whether a CUDA device is
// usable; cuda -> true, or throws InvalidArgument naming the reason ("melodl was built
// without CUDA ..." or the device probe's "no usable CUDA device: ...").
bool use_cuda(Device device);

// Generation of the device workspaces: changes whenever any of them is (re)allocated after
// construction, which invalidates every captured CUDA graph (graphs keep the generation they
// were captured at). Exposed for tests.
std::uint64_t allocation_generation();

// Device parameters of one Network, plus the stream, cuBLAS handle and inference workspaces
// every device operation of that network (and of a Trainer holding it) runs on.
class DeviceNet {
 public:
  DeviceNet(const NetworkConfig& config, const ExecutionOptions& execution,
            const ParamLayout& layout);
  ~DeviceNet();
  DeviceNet(const DeviceNet&) = delete;
  DeviceNet& operator=(const DeviceNet&) = delete;

  // Synchronous copies of the whole flat parameter buffer (layout().total floats).
  void upload_params(const float* host);
  void download_params(float* host);
  // Inference over a chunk (Network::run's contract; arguments already validated): uploads
  // the symbols and the state, runs every layer and the output layer, downloads the logits
  // and the final state. Synchronous.
  void run(std::span<const std::int32_t> symbols, int T, State& state, std::span<float> logits);

  // Step-by-step inference with the recurrent state kept on the device (Sampler): one
  // session per network at a time. session_begin zeroes the state of `batch` streams;
  // session_reset_rows zeroes some streams; session_step feeds symbols [batch] (validated),
  // advances the state and downloads logits [batch,V]. Synchronous.
  void session_begin(int batch);
  void session_reset_rows(std::span<const int> rows);
  // logits may be empty: the step's logits then stay on the device (for session_generate).
  void session_step(std::span<const std::int32_t> symbols, std::span<float> logits);
  // Draws `length` symbols per stream on the device, starting from the logits of the last
  // session_step: per step one inverse-CDF draw per stream at `temperature` (> 0) with the
  // uniforms u[step*batch + stream] (kernels/sample.h), fed back as the next input without
  // leaving the device. out [length*batch] (step-major) is downloaded once at the end.
  void session_generate(int length, float temperature, std::span<const float> u,
                        std::span<std::int32_t> out);

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Which device-resident recurrent state a segment starts from (and leaves its final state
// in): the trainer's carried state, or a scratch state for calls with a caller's State.
enum class StateSlot { carried, scratch };

// Fixed positions in the trainer's small device array of scalars (read by read_scalars).
enum Scalar : int {
  kLoss = 0,      // summed cross-entropy of the last segment
  kNorm = 1,      // gradient norm written by a device-clipped optimiser step
  kGradSq = 2,    // sum of squared gradients (enqueue_grad_sumsq)
  kParamSq = 3,   // sum of squared parameters (enqueue_param_sumsq)
  kWeightSq = 4,  // first of the per-range sums of squared weights (enqueue_weight_sumsq)
};

// Device gradient, optimiser slots and segment workspaces of one Trainer. Every method takes
// the DeviceNet it works on (the trainer's network); enqueue_* only enqueue on its stream,
// read_scalars and the download/upload methods synchronise.
class DeviceTrainer {
 public:
  DeviceTrainer(DeviceNet& net, const OptimizerConfig& optimizer,
                std::span<const std::uint8_t> weight_mask);
  ~DeviceTrainer();
  DeviceTrainer(const DeviceTrainer&) = delete;
  DeviceTrainer& operator=(const DeviceTrainer&) = delete;

  // Recurrent state slots: per layer h, c [B,H]. upload_state and zero_state only enqueue
  // (the host State must stay unchanged until the next synchronising call).
  void upload_state(DeviceNet& net, StateSlot slot, const State& state);
  void zero_state(DeviceNet& net, StateSlot slot, int batch);
  void download_state(DeviceNet& net, StateSlot slot, State& state);  // resizes state
  int state_batch(StateSlot slot) const;

  // Forward (and, when `backward`, backward over the last `bwd` steps; 0 = all) of one
  // segment from the slot's state, which is left holding the segment's final state. The
  // summed loss goes to scalar kLoss, the gradient of the summed loss to the device gradient
  // buffer (overwritten). The batch is already validated; its spans must stay valid until
  // the next synchronising call.
  void enqueue_segment(DeviceNet& net, const Batch& segment, StateSlot slot, int bwd,
                       bool backward);
  void enqueue_grad_sumsq(DeviceNet& net);
  void enqueue_param_sumsq(DeviceNet& net);
  // One sum of squares per contiguous run of weight tensors (is_weight), into kWeightSq + k;
  // returns the number of runs.
  int enqueue_weight_sumsq(DeviceNet& net);
  // One fused optimiser step over the flat buffers: g' = grad_scale * g; when clip_norm > 0
  // the global norm of g' is computed and clipped on the device. With clip_norm > 0 or
  // report_norm that norm (before clipping) goes to kNorm. `step` is the 1-based update count
  // (Adam's bias correction), `minibatch` divides the DL4J update.
  void enqueue_update(DeviceNet& net, const OptimizerConfig& config, float grad_scale,
                      float clip_norm, bool report_norm, int minibatch, std::int64_t step);
  // Synchronises and returns the first n scalars.
  std::vector<double> read_scalars(DeviceNet& net, int n);

  // Synchronous host copies (sizes: layout().total floats; slots in Optimizer::slot_names()
  // order).
  void download_grads(DeviceNet& net, float* host);
  void upload_grads(DeviceNet& net, const float* host);
  void download_slots(DeviceNet& net, std::vector<std::vector<float>>& slots);
  void upload_slots(DeviceNet& net, const std::vector<std::vector<float>>& slots);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace melodl::lstm::cudabk

namespace melodl::lstm {

// The device side of a Network on "cuda" (see network.h): the DeviceNet and which copy of the
// parameters is newer. At most one of the two flags is set.
struct Network::DeviceCopy {
  DeviceCopy(const NetworkConfig& config, const ExecutionOptions& execution,
             const ParamLayout& layout)
      : net(config, execution, layout) {}
  cudabk::DeviceNet net;
  bool host_stale = false;    // the device parameters are newer than Network::params_
  bool device_stale = false;  // Network::params_ is newer than the device parameters
};

}  // namespace melodl::lstm
