// kernels/bf16_ref.cpp: bf16 rounding by bit manipulation and the CPU spec of
// GemmMath::kBf16 (kernels/bf16.h): GEMM, layer forward and layer backward on bf16-rounded
// GEMM operands, built from the gemm, gather, pointwise and reduction references.
#include <bit>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/gather.h"
#include "kernels/gemm.h"
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
// The same algorithm line by line; only the matrix products differ.
template <typename Scalar>
void lstm_layer_backward_bf16(const LayerBwdArgsT<Scalar>& a) {
  constexpr const char* kWhere = "ref::lstm_layer_backward_bf16";
  validate_layer(a, kWhere);
  cuda::require(a.hs && a.cs && a.gates && a.dhs && a.dW && a.dR && a.db, kWhere,
                "hs, cs, gates, dhs, dW, dR, db must be non-null");
  cuda::require(!a.peephole || a.dp, kWhere, "dp must be non-null when peephole is on");
  cuda::require(!(a.dx && a.symbols), kWhere, "dx needs a dense input");
  const int T = a.T, B = a.B, I = a.I, H = a.H, G = 4 * H;
  const int64_t N = static_cast<int64_t>(T) * B, BH = static_cast<int64_t>(B) * H;
  std::vector<Scalar> dz(static_cast<size_t>(N * G)), dp_part(static_cast<size_t>(N * 3 * H));
  std::vector<Scalar> dh(static_cast<size_t>(BH)), dc(static_cast<size_t>(BH), Scalar(0));
  for (int64_t k = 0; k < BH; ++k) {
    dh[k] = a.dhs[(T - 1) * BH + k] + (a.dh_T ? a.dh_T[k] : Scalar(0));
    if (a.dc_T) dc[k] = a.dc_T[k];
  }
  for (int t = T - 1; t >= 0; --t) {
    Scalar* dz_t = dz.data() + t * B * static_cast<int64_t>(G);  // [B,G]
    PointwiseBwdArgsT<Scalar> pw;
    pw.B = B;
    pw.H = H;
    pw.peephole = a.peephole;
    pw.dh = dh.data();
    pw.dc_next = dc.data();
    pw.gates = a.gates + t * B * static_cast<int64_t>(G);
    pw.c_prev = t ? a.cs + (t - 1) * BH : a.c0;
    pw.c = a.cs + t * BH;
    pw.p = a.p;
    pw.dz = dz_t;
    pw.dc_prev = dc.data();  // in place: dc_{t} -> dc_{t-1}
    pw.dp_partial = a.peephole ? dp_part.data() + t * B * 3 * static_cast<int64_t>(H) : nullptr;
    lstm_pointwise_bwd(pw);
    if (t > 0) {  // dh_{t-1} = dhs[t-1] + dz_t R^T
      for (int64_t k = 0; k < BH; ++k) dh[k] = a.dhs[(t - 1) * BH + k];
      gemm_bf16<Scalar>(false, true, B, H, G, 1, dz_t, G, a.R, G, 1, dh.data(), H);
    } else if (a.dh0) {
      gemm_bf16<Scalar>(false, true, B, H, G, 1, dz_t, G, a.R, G, 0, a.dh0, H);
    }
  }
  if (a.dc0)
    for (int64_t k = 0; k < BH; ++k) a.dc0[k] = dc[k];
  const Scalar beta = a.accumulate ? Scalar(1) : Scalar(0);
  if (T > 1) {  // dR = sum_t h_{t-1}^T dz_t: steps 1..T-1, then the h0 term
    gemm_bf16<Scalar>(true, false, H, G, static_cast<int>((T - 1) * static_cast<int64_t>(B)), 1,
                      a.hs, H, dz.data() + B * static_cast<int64_t>(G), G, beta, a.dR, G);
  } else if (!a.accumulate) {
    for (int64_t k = 0; k < static_cast<int64_t>(H) * G; ++k) a.dR[k] = 0;
  }
  gemm_bf16<Scalar>(true, false, H, G, B, 1, a.h0, H, dz.data(), G, 1, a.dR, G);
  if (a.symbols) {
    onehot_weight_grad(OnehotGradArgsT<Scalar>{N, I, G, a.symbols, dz.data(), a.dW, a.accumulate});
  } else {
    gemm_bf16<Scalar>(true, false, I, G, static_cast<int>(N), 1, a.x, I, dz.data(), G, beta, a.dW,
                      G);
    if (a.dx)
      gemm_bf16<Scalar>(false, true, static_cast<int>(N), I, G, 1, dz.data(), G, a.W, G, 0, a.dx,
                        I);
  }
  column_sum(dz.data(), N, G, a.db, a.accumulate);
  if (a.peephole) column_sum(dp_part.data(), N, 3 * static_cast<int64_t>(H), a.dp, a.accumulate);
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
