// kernels/gather.h: the input projection of a one-hot (symbol) input as a row gather, and
// its weight gradient as a deterministic scatter. With x_t = onehot(s), x_t W is row s of W,
// so the [N,I]x[I,G] GEMM becomes a copy: N*G*4 bytes read and written, no FLOPs.
// CUDA-free. Spec: kernels/gather_ref.cpp. Tests: tests/kernels/gather_cuda_test.cpp.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace melodl {

template <typename Scalar>
struct GatherArgsT {
  int64_t N = 0;                 // rows (T*B)
  int I = 0, G = 0;              // vocabulary (rows of W), row width
  const int32_t* sym = nullptr;  // [N] symbols in [0, I)
  const Scalar* W = nullptr;     // [I,G]
  const Scalar* b = nullptr;     // [G] added to every row, or null (no bias)
  Scalar* out = nullptr;         // [N,G] out: W[sym[n],:] (+ b)
};

template <typename Scalar>
struct OnehotGradArgsT {
  int64_t N = 0;
  int I = 0, G = 0;
  const int32_t* sym = nullptr;  // [N] symbols in [0, I)
  const Scalar* dz = nullptr;    // [N,G] gradient of the gathered rows
  Scalar* dW = nullptr;          // [I,G] out: dW[v,:] (+)= sum over n with sym[n]==v of dz[n,:]
  bool accumulate = false;       // add to dW instead of overwriting it
};

using GatherArgs = GatherArgsT<float>;
using OnehotGradArgs = OnehotGradArgsT<float>;

namespace cuda {
// Out-of-range symbols cannot be reported from the device: gather writes a row of NaNs so the
// error shows up in the loss; onehot_weight_grad ignores them. Enqueued on ctx.stream.
void gather_rows(const GatherArgs& a, const ExecContext& ctx);
void onehot_weight_grad(const OnehotGradArgs& a, const ExecContext& ctx);
}  // namespace cuda

namespace ref {
// Throw InvalidArgument on an out-of-range symbol.
template <typename Scalar>
void gather_rows(const GatherArgsT<Scalar>& a);
template <typename Scalar>
void onehot_weight_grad(const OnehotGradArgsT<Scalar>& a);
}  // namespace ref

}  // namespace melodl
