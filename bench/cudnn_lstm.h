// bench/cudnn_lstm.h: cuDNN's standard LSTM (CUDNN_LSTM: no peepholes, two bias vectors)
// wrapped for the benchmarks and as a cross-check of melodl's peephole-off mode. Never a
// dependency of melodl::lstm: built only into bench/ and tests/kernels/ programs, and only
// when cudnn.h and libcudnn are found (bench/cudnn_find.cmake). Header free of CUDA and cuDNN
// types (opaque implementation).
//
// Weights are given and returned in melodl's layout (docs/design.md), per layer l:
// W [I_l, 4H], R [H, 4H], b [4H], gate blocks i, f, g, o along 4H. cuDNN's LSTM uses the same
// gate order (its linear layers 0-3 = input matrices of i, f, g, o; 4-7 = the recurrent ones)
// but stores each gate's matrix as [H, I] (transposed w.r.t. our [I, H] block) and has two
// biases per gate: melodl's b goes to cuDNN's input bias, its recurrent bias is 0, and the
// gradients of both cuDNN biases equal melodl's db (get_weight_grads returns the input one).
// Layouts read back from cudnnGetRNNWeightParams (dims and strides), not assumed.
// Activations: x [T,B,I_0], y [T,B,H] time-major; hx, cx, hy, cy, dhx, dcx [L,B,H].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/common.h"

namespace melodl::bench {

// Throws melodl::cuda::CudaError naming the cuDNN call, its status string and file:line.
struct CudnnLstmShape {
  int layers = 1;    // L
  int input = 0;     // I_0 (input size of layer 0)
  int hidden = 0;    // H
  int batch = 0;     // B
  int T = 0;         // time steps
  bool tf32 = true;  // CUDNN_DEFAULT_MATH (TF32 allowed) vs CUDNN_FMA_MATH (exact fp32)
};

// Host weights (or gradients) of one layer in melodl's layout.
struct HostLstmLayer {
  std::vector<float> W, R, b;  // [I,4H], [H,4H], [4H]
};

class CudnnLstm {
 public:
  // All work is enqueued on `stream` (nullptr = legacy default stream).
  CudnnLstm(const CudnnLstmShape& shape, cuda::Stream stream);
  ~CudnnLstm();
  CudnnLstm(const CudnnLstm&) = delete;
  CudnnLstm& operator=(const CudnnLstm&) = delete;

  const CudnnLstmShape& shape() const;
  // Copies melodl-layout weights into cuDNN's weight space (synchronous).
  void set_weights(const std::vector<HostLstmLayer>& layers);
  // The weight gradient of the last backward() in melodl's layout (synchronous).
  std::vector<HostLstmLayer> get_weight_grads();

  // Device pointers. training keeps the reserve space backward() needs. hx/cx may be null
  // (zero state); hy/cy may be null.
  void forward(const float* x, const float* hx, const float* cx, float* y, float* hy, float* cy,
               bool training);
  // After forward(training = true) with the same x, hx, cx, y: dy [T,B,H] -> dx [T,B,I_0],
  // dhx, dcx [L,B,H] (each may be null), and the weight gradient (overwritten, not
  // accumulated). dhy/dcy (gradient on the final state) are taken as 0 (truncated BPTT).
  void backward(const float* x, const float* hx, const float* cx, const float* y, const float* dy,
                float* dx, float* dhx, float* dcx);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace melodl::bench
