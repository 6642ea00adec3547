// kernels/bf16_ref.cpp: bf16 rounding by bit manipulation and the CPU spec of
// GemmMath::kBf16 (kernels/bf16.h): GEMM, layer forward and layer backward on bf16-rounded
// GEMM operands, built from the gemm, gather, pointwise and reduction references.
#include <bit>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/lstm_pointwise.h"
#include "kernels/reduce.h"

namespace melodl::ref {

uint16_t bf16_bits(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;  // NaN: the quiet NaN CUDA returns
  // Round to nearest even on the 16 dropped bits: add 0x7fff, plus 1 when the kept part is
  // odd, and truncate. A carry out of the significand bumps the exponent, which is right
  // (subnormal -> normal, largest finite -> Inf); Inf stays Inf (dropped bits are 0).
  const uint32_t lsb = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7fffu + lsb) >> 16);
}

float bf16_to_float(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

template <typename Scalar>
std::vector<Scalar> round_bf16(const Scalar* v, int64_t n) {
  cuda::require(n >= 0 && (n == 0 || v != nullptr), "ref::round_bf16", "bad array");
  std::vector<Scalar> r(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) r[static_cast<size_t>(k)] = round_bf16(v[k]);
  return r;
}

template <typename Scalar>
void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, Scalar alpha, const Scalar* A,
               int lda, const Scalar* B, int ldb, Scalar beta, Scalar* C, int ldc) {
  cuda::require(M >= 0 && N >= 0 && K >= 0, "ref::gemm_bf16", "M, N, K must be >= 0");
  // Extents of A and B in elements (rows * leading dimension, the last row only as long
  // as needed), so a rounded copy covers exactly what ref::gemm reads.
  const int64_t a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
  const int64_t b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  const int64_t a_n = a_rows > 0 && a_cols > 0 ? (a_rows - 1) * lda + a_cols : 0;
  const int64_t b_n = b_rows > 0 && b_cols > 0 ? (b_rows - 1) * ldb + b_cols : 0;
  const auto Ar = round_bf16(A, a_n), Br = round_bf16(B, b_n);
  gemm<Scalar>(trans_a, trans_b, M, N, K, alpha, Ar.data(), lda, Br.data(), ldb, beta, C, ldc);
}

template <typename Scalar>
void lstm_layer_forward_bf16(const LayerFwdArgsT<Scalar>& a) {
  constexpr const char* kWhere = "ref::lstm_layer_forward_bf16";
  validate_layer(a, kWhere);
  cuda::require(a.b && a.hs && a.cs && a.gates, kWhere, "b, hs, cs, gates must be non-null");
  const int T = a.T, B = a.B, I = a.I, H = a.H, G = 4 * H;
  const int64_t N = static_cast<int64_t>(T) * B, BH = static_cast<int64_t>(B) * H;
  // Input projection for all steps into gates (the z workspace), as ctx.math = kBf16 does
  // it: the gather copies W's fp32 rows, the dense GEMM rounds x and W.
  if (a.symbols) {
    gather_rows(GatherArgsT<Scalar>{N, I, G, a.symbols, a.W, nullptr, a.gates});
  } else {
    gemm_bf16<Scalar>(false, false, static_cast<int>(N), G, I, 1, a.x, I, a.W, G, 0, a.gates, G);
  }
  const auto Rr = round_bf16(a.R, static_cast<int64_t>(H) * G);
  for (int t = 0; t < T; ++t) {
    Scalar* z = a.gates + static_cast<int64_t>(t) * B * G;                      // [B,G]
    const Scalar* h_prev = t ? a.hs + static_cast<int64_t>(t - 1) * BH : a.h0;  // [B,H]
    const Scalar* c_prev = t ? a.cs + static_cast<int64_t>(t - 1) * BH : a.c0;  // [B,H]
    const auto hr = round_bf16(h_prev, BH);
    gemm<Scalar>(false, false, B, G, H, 1, hr.data(), H, Rr.data(), G, 1, z, G);
    PointwiseFwdArgsT<Scalar> pw;
    pw.B = B;
    pw.H = H;
    pw.peephole = a.peephole;
    pw.training = a.training;
    pw.z = z;
    pw.b = a.b;
    pw.p = a.p;
    pw.c_prev = c_prev;
    pw.c = a.cs + static_cast<int64_t>(t) * BH;
    pw.h = a.hs + static_cast<int64_t>(t) * BH;
    pw.gates = z;
    lstm_pointwise_fwd(pw);
  }
}

// ref::lstm_layer_backward (kernels/lstm_layer_ref.cpp) with every GEMM a gemm_bf16: what
// variant (a)'s backward computes under kBf16 (cuBLAS rounds the operands of each GEMM).
// The same algorithm (one implementation, detail::lstm_layer_backward_with); only the matrix
// products differ.
template <typename Scalar>
void lstm_layer_backward_bf16(const LayerBwdArgsT<Scalar>& a) {
  detail::lstm_layer_backward_with<Scalar>(a, &gemm_bf16<Scalar>, "ref::lstm_layer_backward_bf16");
}

template std::vector<float> round_bf16<float>(const float*, int64_t);
template std::vector<double> round_bf16<double>(const double*, int64_t);
template void gemm_bf16<float>(bool, bool, int, int, int, float, const float*, int, const float*,
                               int, float, float*, int);
template void gemm_bf16<double>(bool, bool, int, int, int, double, const double*, int,
                                const double*, int, double, double*, int);
template void lstm_layer_forward_bf16<float>(const LayerFwdArgsT<float>&);
template void lstm_layer_forward_bf16<double>(const LayerFwdArgsT<double>&);
template void lstm_layer_backward_bf16<float>(const LayerBwdArgsT<float>&);
template void lstm_layer_backward_bf16<double>(const LayerBwdArgsT<double>&);

}  // namespace melodl::ref
