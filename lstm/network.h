// lstm/network.h: a stack of GravesLSTM (peephole LSTM) layers plus a softmax output
// layer over a vocabulary of V symbols; the public, device-agnostic API of melodl::lstm.
// The library knows nothing of music: symbols are integers in [0, V).
//
// Per layer l (input size I, hidden H, G = 4H; layer 0 has I = V and one-hot input):
//   z_t = x_t W + h_{t-1} R + b                      (layer 0: x_t W is a row gather of W)
//   i = sigm(z_i + p_i*c_{t-1})   f = sigm(z_f + p_f*c_{t-1})   g = tanh(z_g)
//   c_t = f*c_{t-1} + i*g         o = sigm(z_o + p_o*c_t)        h_t = o*tanh(c_t)
//   logits_t = h_t^{top} Wy + by;  softmax cross-entropy.
// Gate blocks along G: [0,H) i, [H,2H) f, [2H,3H) g, [3H,4H) o. Shapes legend: T = time
// steps in a chunk, B = batch, H = hidden, V = vocabulary. Activations are time-major
// [T,B,.], row-major, contiguous float. Full layout: docs/design.md.
//
// Example:
//   melodl::lstm::NetworkConfig cfg;  cfg.vocab = 60;  // 2 x 200, peepholes, seed 12345
//   melodl::lstm::Network net(cfg);
//   auto state = net.zero_state(/*batch=*/1);
//   std::vector<float> logits(cfg.vocab);
//   std::int32_t sym = 0;
//   net.step({&sym, 1}, state, logits);  // one symbol in, next-symbol logits out
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lstm/aligned.h"
#include "lstm/error.h"
#include "lstm/execution.h"

namespace melodl::lstm {

namespace cudabk {
class DeviceNet;  // lstm/cuda/backend.h (internal)
}
class CudaTrainBackend;  // lstm/cuda/trainer_backend.cpp (internal)

// The model's shape and initialisation: what a checkpoint must hold. Where and how it
// computes (device, threads, CUDA options) is ExecutionOptions (lstm/execution.h).
struct NetworkConfig {
  int vocab = 0;                  // V: number of symbols (input one-hot size and softmax size)
  int layers = 2;                 // number of stacked GravesLSTM layers, >= 1
  int hidden = 200;               // H: units per layer
  bool peepholes = true;          // GravesLSTM peepholes; false = the standard (cuDNN) LSTM
  float forget_bias_init = 1.0f;  // initial bias of the forget-gate block
  std::uint64_t seed = 12345;     // seeds the weight init (Rng, lstm/rng.h)
  // Throws InvalidArgument naming the field and the value when a field is out of range.
  void validate() const;
  // Flat JSON object with the fields above (what a checkpoint holds); from_json throws
  // InvalidArgument on bad input and ignores other keys (checkpoints written before the
  // execution options moved to ExecutionOptions also hold threads, device and cuda_*).
  std::string to_json() const;
  static NetworkConfig from_json(const std::string& text);
  // Fields that define the parameter shapes (vocab, layers, hidden, peepholes) are equal.
  bool same_shape(const NetworkConfig& other) const;
};

// Where each named parameter tensor lives in the flat parameter buffer.
struct ParamTensor {
  std::string name;        // "layer0.W", "layer0.R", "layer0.b", "layer0.p", "out.W", "out.b"
  std::size_t offset = 0;  // in floats
  std::vector<std::int64_t> shape;  // row-major
  bool is_weight = false;           // true for W, R, p, out.W (L2 applies); false for biases
  std::size_t size() const;
};

struct LayerLayout {
  int input = 0, hidden = 0;
  std::size_t W = 0, R = 0, b = 0,
              p = 0;  // offsets: W [I,G], R [H,G], b [G], p [3,H] (p_i,p_f,p_o)
  bool peepholes = true;
};

struct ParamLayout {
  std::vector<LayerLayout> layers;
  std::size_t Wy = 0, by = 0;  // out.W [H,V], out.b [V]
  std::size_t total = 0;       // floats in the whole buffer
  std::vector<ParamTensor> tensors;

  static ParamLayout for_config(const NetworkConfig& config);
};

// Recurrent state of every layer for a batch of B streams: h[l], c[l] are [B,H].
// Carrying a state from one chunk to the next carries values, never gradients (truncated BPTT).
struct State {
  int batch = 0;
  std::vector<AlignedFloats> h, c;
  static State zeros(const NetworkConfig& config, int batch);
  // Zero h and c of the listed streams (e.g. a stream whose sequence ended).
  void reset_rows(std::span<const int> rows);
};

// Device::cuda (docs/design.md "CUDA backend"): the parameters live on the GPU and run()/step()
// compute there (uploading the symbols and state, downloading logits and state per call).
// params() is a host mirror refreshed lazily: the const overload downloads when the device
// copy is newer; the non-const one also marks the host copy newer, so the next device
// operation uploads it (a span from params() is valid until the next Network or Trainer
// call). run_layer/step_layer/output_layer compute on the CPU from the host mirror. A
// "cuda" Network is not safe for concurrent use from several threads, const calls included.
class Network {
 public:
  // Validates config and execution and initialises the weights from config.seed (DL4J-style
  // Xavier, see docs/design.md; the same weights on every device). Throws InvalidArgument on
  // a bad config or execution option, when this CPU lacks AVX2/FMA, or when
  // execution.device is Device::cuda and CUDA is unusable.
  explicit Network(const NetworkConfig& config, const ExecutionOptions& execution = {});
  // Adopts parameters (e.g. from a checkpoint); params.size() must equal layout().total.
  Network(const NetworkConfig& config, std::vector<float> params,
          const ExecutionOptions& execution = {});
  ~Network();
  Network(Network&&) noexcept;
  Network& operator=(Network&&) noexcept;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const NetworkConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }
  // The execution options given at construction (device as given, e.g. Device::automatic).
  const ExecutionOptions& execution() const { return execution_; }
  // The backend in use: Device::cpu or Device::cuda (execution().device resolved).
  Device device() const { return device_ ? Device::cuda : Device::cpu; }
  // Host copy of the flat parameter buffer (see the class comment for "cuda").
  std::span<float> params();
  std::span<const float> params() const;
  std::size_t num_params() const { return params_.size(); }

  State zero_state(int batch) const { return State::zeros(config_, batch); }

  // Inference over a chunk (all layers): symbols [T,B] in [0,V); state in/out [B,H] per layer;
  // logits [T,B,V] out. Single-threaded. Throws InvalidArgument on bad shapes or symbols.
  void run(std::span<const std::int32_t> symbols, int T, State& state,
           std::span<float> logits) const;
  // One time step for B = state.batch streams: symbols [B]; logits [B,V] out.
  void step(std::span<const std::int32_t> symbols, State& state, std::span<float> logits) const;

  // Per-layer inference (single-threaded), the two granularities of one GravesLSTM layer:
  // run_layer over a chunk hoists the input projection into one GEMM over all T*B rows, then
  // runs the recurrence. Layer 0 takes symbols [T,B] (x empty); layers above take x [T,B,H]
  // (symbols empty). h, c: [B,H] state in/out; y: [T,B,H] hidden outputs (may not alias x).
  void run_layer(int layer, int T, int B, std::span<const float> x,
                 std::span<const std::int32_t> symbols, std::span<float> h, std::span<float> c,
                 std::span<float> y) const;
  // run_layer with T = 1.
  void step_layer(int layer, int B, std::span<const float> x, std::span<const std::int32_t> symbols,
                  std::span<float> h, std::span<float> c, std::span<float> y) const {
    run_layer(layer, 1, B, x, symbols, h, c, y);
  }
  // Output layer: y [T*B,H] of the top layer -> logits [T*B,V].
  void output_layer(std::span<const float> y, std::span<float> logits) const;

 private:
  friend class Trainer;
  friend class Sampler;
  friend class CudaTrainBackend;  // lstm/cuda/trainer_backend.cpp
  struct DeviceCopy;              // lstm/cuda/backend.h: device parameters and which copy is newer

  void sync_host() const;  // downloads the parameters when the device copy is newer
  // Device::cuda: the device network with current parameters (uploads them when the host copy is
  // newer); null on the CPU.
  cudabk::DeviceNet* device_net() const;

  NetworkConfig config_;
  ExecutionOptions execution_;
  ParamLayout layout_;
  mutable AlignedFloats params_;        // "cuda": the host mirror, refreshed by sync_host()
  std::unique_ptr<DeviceCopy> device_;  // null on the CPU
};

// Throws InvalidArgument when the running CPU lacks AVX2 or FMA (the CPU backend is compiled
// for x86-64-v3).
void check_cpu_support();

}  // namespace melodl::lstm
