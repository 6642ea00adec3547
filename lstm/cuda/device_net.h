// lstm/cuda/device_net.h: DeviceNet::Impl (lstm/cuda/backend.h), the state of one network on
// the device shared by the CUDA backend's inference (device_net.cpp) and training
// (device_trainer.cpp, segment.cpp): the parameters, the stream and cuBLAS handle, the
// inference and sampling-session workspaces, and the two building blocks every forward uses:
// one LSTM layer (variant (a), or the persistent variant (b) where requested and the shape
// fits) and the output layer. Internal to lstm/cuda/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "kernels/lstm_layer.h"
#include "kernels/runtime.h"
#include "lstm/cuda/backend.h"
#include "lstm/cuda/device_util.h"

namespace melodl::lstm::cudabk {

struct DeviceNet::Impl {
  Impl(const NetworkConfig& c, const ExecutionOptions& e, const ParamLayout& l)
      : cfg(c), options(e), layout(l), ctx(gemm_math(e)), params(l.total) {}

  NetworkConfig cfg;
  ExecutionOptions options;  // execution options (cuda_math, cuda_*)
  ParamLayout layout;
  cuda::DeviceContext ctx;
  Buf<float> params;
  Buf<std::int32_t> zeros;  // [>= N] all-zero indices: broadcast of the output bias
  // inference workspaces
  Buf<std::int32_t> sym;
  std::vector<Buf<float>> hs, cs, h0, c0;
  Buf<float> gates, logits;
  // step-by-step session (Sampler): per layer h, c [B,H] of session_batch streams
  int session_batch = 0;
  std::vector<Buf<float>> sess_h, sess_c;
  Buf<float> gen_u;           // session_generate: uniforms [length*B]
  Buf<std::int32_t> gen_out;  // session_generate: drawn symbols [length*B]
  // Whether the persistent variant (b) runs a (B, H): asked once per shape and direction.
  std::map<std::pair<int, int>, bool> persistent_fwd_fits, persistent_bwd_fits;

  cuda::ExecContext exec() const { return ctx.exec(); }
  cudaStream_t stream() const { return ctx.stream(); }
  cuda::GemmMath ctx_math() const { return gemm_math(options); }

  // A step's outputs become the session state (buffers swapped, no copy).
  void session_swap();
  // Inference workspaces for N = T*B rows.
  void ensure_inference(std::size_t N, std::size_t BH);
  // Grows like every other workspace (ensure: a reallocation invalidates captured graphs,
  // which hold the old pointer) and zeroes the new buffer.
  void ensure_zeros(std::int64_t n);

  // The forward arguments of layer l over T steps of B streams: symbols (layer 0) or x [T,B,H]
  // (layers above), initial state h_0, c_0 [B,H], outputs h_s, c_s [T,B,H] and gates g
  // [T,B,G] (saved for backward when training, else a workspace).
  LayerFwdArgs layer_args(int l, int T, int B, const std::int32_t* symbols, const float* x,
                          const float* h_0, const float* c_0, float* h_s, float* c_s, float* g,
                          bool training) const;
  // Layers: variant (b) (persistent) when requested and the device runs the shape (in the
  // network's math: bf16 halves the on-chip storage), else variant (a).
  void layer_forward(const LayerFwdArgs& a, const cuda::ExecContext& ex);
  void layer_backward(const LayerBwdArgs& a, const cuda::ExecContext& ex);
  // logits [N,V] = y [N,H] Wy + by.
  void output_forward(const float* y, std::int64_t N, float* out);
};

}  // namespace melodl::lstm::cudabk
