// kernels/bf16.h: bf16 (bfloat16) rounding and the CPU spec of GemmMath::kBf16. CUDA-free.
// bf16 is the top half of an fp32: sign, the same 8-bit exponent, 7 stored significand bits
// (8 with the implicit one, so the unit roundoff is u = 2^-8: one rounding of a normal value
// has relative error <= 2^-8 ~ 3.9e-3, vs 2^-24 for fp32). Rounding fp32 -> bf16 here is round to
// nearest, ties to even, exactly what CUDA's __float2bfloat16_rn does: subnormals round like any
// other value (no flush to zero), values at or beyond the half-way point above the largest
// bf16 (0x7F7F = 3.3895314e38) become +-Inf, +-Inf stay, NaN becomes the quiet NaN 0x7FFF.
//
// kBf16 (kernels/common.h): every matrix-product operand is rounded to bf16, the products
// (exact in fp32: 8 + 8 significand bits) are accumulated in fp32, everything else is fp32.
// ref::gemm_bf16 and ref::lstm_layer_forward_bf16 model that on rounded copies (the sums in
// Scalar), so a GPU result differs from them by accumulation order only.
// Tests: tests/kernels/bf16_ref_test.cpp (CPU), tests/kernels/bf16_cuda_test.cpp (GPU).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/common.h"
#include "kernels/lstm_layer.h"

namespace melodl {
namespace ref {

// Bit pattern of x rounded to bf16 (round to nearest even; see the banner).
uint16_t bf16_bits(float x);
// The fp32 value of a bf16 bit pattern (exact: bf16 is a subset of fp32).
float bf16_to_float(uint16_t bits);
// x rounded to bf16 and back: fp32 -> bf16 -> fp32.
inline float round_bf16(float x) { return bf16_to_float(bf16_bits(x)); }
// A double goes through fp32 first (the GPU rounds fp32 values).
inline double round_bf16(double x) { return round_bf16(static_cast<float>(x)); }
// Rounded copy of v.
template <typename Scalar>
std::vector<Scalar> round_bf16(const Scalar* v, int64_t n);

// ref::gemm (kernels/gemm.h) with every element of A and B rounded to bf16 first; C, alpha
// and beta as they are. The spec of cuda::gemm with GemmMath::kBf16.
template <typename Scalar>
void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, Scalar alpha, const Scalar* A,
               int lda, const Scalar* B, int ldb, Scalar beta, Scalar* C, int ldc);

// ref::lstm_layer_forward (kernels/lstm_layer.h) under GemmMath::kBf16: the input projection
// is a gather of the unrounded W (one-hot) or gemm_bf16(x, W) (dense); each step adds
// round(h_{t-1}) round(R), with h_{t-1} the unrounded output of the previous step (h0 at
// t = 0), rounded only where it enters the product. Bias, peepholes, cell state and all
// outputs stay unrounded. The spec of the persistent forward with ctx.math == kBf16.
template <typename Scalar>
void lstm_layer_forward_bf16(const LayerFwdArgsT<Scalar>& a);

// ref::lstm_layer_backward (kernels/lstm_layer.h) under GemmMath::kBf16, as variant (a) runs
// it: every matrix product (dz R^T, h^T dz, x^T dz, dz W^T) on bf16-rounded operands; the
// pointwise chain rule, column sums (db, dp) and the one-hot scatter stay unrounded. Feed it
// the activations of lstm_layer_forward_bf16.
template <typename Scalar>
void lstm_layer_backward_bf16(const LayerBwdArgsT<Scalar>& a);

}  // namespace ref

namespace cuda {
// out[k] = round_bf16(in[k]) for k < n on the device (__float2bfloat16_rn and back): checks
// the device conversion against ref::round_bf16. in == out is allowed. Enqueued on
// ctx.stream; n == 0 is a no-op.
void round_bf16(const float* in, float* out, int64_t n, const ExecContext& ctx);
}  // namespace cuda

}  // namespace melodl
