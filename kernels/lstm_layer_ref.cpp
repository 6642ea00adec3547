// kernels/lstm_layer_ref.cpp: reference GravesLSTM layer over a TBPTT segment, forward and
// backward (kernels/lstm_layer.h), built from the pointwise, gather, GEMM and reduction
// references so the whole-layer gradient check also covers how they are wired together.
// Same algorithm as the CUDA layer; templated so tests run it in double.
#include <vector>

#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/lstm_pointwise.h"
#include "kernels/reduce.h"

namespace melodl::ref {

template <typename Scalar>
void lstm_layer_forward(const LayerFwdArgsT<Scalar>& a) {
  constexpr const char* kWhere = "ref::lstm_layer_forward";
  validate_layer(a, kWhere);
  cuda::require(a.b && a.hs && a.cs && a.gates, kWhere, "b, hs, cs, gates must be non-null");
  const int T = a.T, B = a.B, I = a.I, H = a.H, G = 4 * H;
  const int64_t N = static_cast<int64_t>(T) * B;
  // Input projection for all steps into gates (used as the z workspace).
  if (a.symbols) {
    gather_rows(GatherArgsT<Scalar>{N, I, G, a.symbols, a.W, nullptr, a.gates});
  } else {
    gemm<Scalar>(false, false, static_cast<int>(N), G, I, 1, a.x, I, a.W, G, 0, a.gates, G);
  }
  for (int t = 0; t < T; ++t) {
    Scalar* z = a.gates + static_cast<int64_t>(t) * B * G;                         // [B,G]
    const Scalar* h_prev = t ? a.hs + static_cast<int64_t>(t - 1) * B * H : a.h0;  // [B,H]
    const Scalar* c_prev = t ? a.cs + static_cast<int64_t>(t - 1) * B * H : a.c0;  // [B,H]
    gemm<Scalar>(false, false, B, G, H, 1, h_prev, H, a.R, G, 1, z, G);
    PointwiseFwdArgsT<Scalar> pw;
    pw.B = B;
    pw.H = H;
    pw.peephole = a.peephole;
    pw.training = a.training;
    pw.z = z;
    pw.b = a.b;
    pw.p = a.p;
    pw.c_prev = c_prev;
    pw.c = a.cs + static_cast<int64_t>(t) * B * H;
    pw.h = a.hs + static_cast<int64_t>(t) * B * H;
    pw.gates = z;
    lstm_pointwise_fwd(pw);
  }
}

template <typename Scalar>
void detail::lstm_layer_backward_with(const LayerBwdArgsT<Scalar>& a, GemmFn<Scalar> gemm,
                                      const char* kWhere) {
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
    // dh_{t-1} = dhs[t-1] + dz_t R^T  (at t = 0 this is dh0 without the dhs term)
    if (t > 0) {
      for (int64_t k = 0; k < BH; ++k) dh[k] = a.dhs[(t - 1) * BH + k];
      gemm(false, true, B, H, G, 1, dz_t, G, a.R, G, 1, dh.data(), H);
    } else if (a.dh0) {
      gemm(false, true, B, H, G, 1, dz_t, G, a.R, G, 0, a.dh0, H);
    }
  }
  if (a.dc0)
    for (int64_t k = 0; k < BH; ++k) a.dc0[k] = dc[k];
  const Scalar beta = a.accumulate ? Scalar(1) : Scalar(0);
  // dR = sum_t h_{t-1}^T dz_t: steps 1..T-1 in one GEMM, then the h0 term.
  if (T > 1) {
    gemm(true, false, H, G, static_cast<int>((T - 1) * static_cast<int64_t>(B)), 1, a.hs, H,
         dz.data() + B * static_cast<int64_t>(G), G, beta, a.dR, G);
  } else if (!a.accumulate) {
    for (int64_t k = 0; k < static_cast<int64_t>(H) * G; ++k) a.dR[k] = 0;
  }
  gemm(true, false, H, G, B, 1, a.h0, H, dz.data(), G, 1, a.dR, G);
  // dW: scatter for one-hot input, x^T dz otherwise; dx = dz W^T.
  if (a.symbols) {
    onehot_weight_grad(OnehotGradArgsT<Scalar>{N, I, G, a.symbols, dz.data(), a.dW, a.accumulate});
  } else {
    gemm(true, false, I, G, static_cast<int>(N), 1, a.x, I, dz.data(), G, beta, a.dW, G);
    if (a.dx) gemm(false, true, static_cast<int>(N), I, G, 1, dz.data(), G, a.W, G, 0, a.dx, I);
  }
  column_sum(dz.data(), N, G, a.db, a.accumulate);
  if (a.peephole) column_sum(dp_part.data(), N, 3 * static_cast<int64_t>(H), a.dp, a.accumulate);
}

template <typename Scalar>
void lstm_layer_backward(const LayerBwdArgsT<Scalar>& a) {
  detail::lstm_layer_backward_with<Scalar>(a, &gemm<Scalar>, "ref::lstm_layer_backward");
}

template void lstm_layer_forward<float>(const LayerFwdArgsT<float>&);
template void lstm_layer_forward<double>(const LayerFwdArgsT<double>&);
template void lstm_layer_backward<float>(const LayerBwdArgsT<float>&);
template void lstm_layer_backward<double>(const LayerBwdArgsT<double>&);
template void detail::lstm_layer_backward_with<float>(const LayerBwdArgsT<float>&,
                                                      detail::GemmFn<float>, const char*);
template void detail::lstm_layer_backward_with<double>(const LayerBwdArgsT<double>&,
                                                       detail::GemmFn<double>, const char*);

}  // namespace melodl::ref
