// kernels/lstm_pointwise_ref.cpp: scalar reference (the spec) of the fused GravesLSTM cell
// step, forward and backward; see kernels/lstm_pointwise.h for the equations. Plain C++,
// built in CPU-only and CUDA builds. Obviously-correct loops, never optimised.
// Tested by tests/kernels/lstm_pointwise_ref_test.cpp (finite differences in double).
#include <cmath>

#include "kernels/lstm_pointwise.h"

namespace melodl::ref {
namespace {
template <typename S>
S sigmoid(S x) {
  return S(1) / (S(1) + std::exp(-x));
}
}  // namespace

template <typename Scalar>
void lstm_pointwise_fwd(const PointwiseFwdArgsT<Scalar>& a) {
  validate(a, "ref::lstm_pointwise_fwd");
  const int B = a.B, H = a.H, G = 4 * H;
  for (int bi = 0; bi < B; ++bi) {
    for (int j = 0; j < H; ++j) {
      const Scalar* z = a.z + bi * G;  // [G]
      const Scalar cp = a.c_prev[bi * H + j];
      const Scalar pi = a.peephole ? a.p[0 * H + j] : Scalar(0);
      const Scalar pf = a.peephole ? a.p[1 * H + j] : Scalar(0);
      const Scalar po = a.peephole ? a.p[2 * H + j] : Scalar(0);
      const Scalar i = sigmoid(z[0 * H + j] + a.b[0 * H + j] + pi * cp);
      const Scalar f = sigmoid(z[1 * H + j] + a.b[1 * H + j] + pf * cp);
      const Scalar g = std::tanh(z[2 * H + j] + a.b[2 * H + j]);
      const Scalar c = f * cp + i * g;
      const Scalar o = sigmoid(z[3 * H + j] + a.b[3 * H + j] + po * c);
      a.c[bi * H + j] = c;
      a.h[bi * H + j] = o * std::tanh(c);
      if (a.training) {
        Scalar* gt = a.gates + bi * G;  // [G]; may alias z: z was fully read above
        gt[0 * H + j] = i;
        gt[1 * H + j] = f;
        gt[2 * H + j] = g;
        gt[3 * H + j] = o;
      }
    }
  }
}

template <typename Scalar>
void lstm_pointwise_bwd(const PointwiseBwdArgsT<Scalar>& a) {
  validate(a, "ref::lstm_pointwise_bwd");
  const int B = a.B, H = a.H, G = 4 * H;
  for (int bi = 0; bi < B; ++bi) {
    for (int j = 0; j < H; ++j) {
      const Scalar* gt = a.gates + bi * G;  // [G]
      const Scalar i = gt[0 * H + j], f = gt[1 * H + j], g = gt[2 * H + j], o = gt[3 * H + j];
      const Scalar cp = a.c_prev[bi * H + j];
      const Scalar c = a.c[bi * H + j];
      const Scalar pi = a.peephole ? a.p[0 * H + j] : Scalar(0);
      const Scalar pf = a.peephole ? a.p[1 * H + j] : Scalar(0);
      const Scalar po = a.peephole ? a.p[2 * H + j] : Scalar(0);
      const Scalar dh = a.dh[bi * H + j] + (a.dh_add ? a.dh_add[bi * H + j] : Scalar(0));
      const Scalar tc = std::tanh(c);
      // h = o*tanh(c); o = sigmoid(a_o), a_o = z_o + b_o + p_o*c
      const Scalar dz_o = dh * tc * o * (Scalar(1) - o);
      // c feeds h directly, through o's peephole, and the next step
      const Scalar dc = a.dc_next[bi * H + j] + dh * o * (Scalar(1) - tc * tc) + dz_o * po;
      const Scalar dz_i = dc * g * i * (Scalar(1) - i);
      const Scalar dz_f = dc * cp * f * (Scalar(1) - f);
      const Scalar dz_g = dc * i * (Scalar(1) - g * g);
      Scalar* dz = a.dz + bi * G;  // [G]
      dz[0 * H + j] = dz_i;
      dz[1 * H + j] = dz_f;
      dz[2 * H + j] = dz_g;
      dz[3 * H + j] = dz_o;
      // c_prev feeds c through f, and the i and f peepholes
      a.dc_prev[bi * H + j] = dc * f + dz_i * pi + dz_f * pf;
      if (a.peephole) {
        Scalar* dp = a.dp_partial + bi * 3 * H;  // [3H]
        dp[0 * H + j] = dz_i * cp;
        dp[1 * H + j] = dz_f * cp;
        dp[2 * H + j] = dz_o * c;
      }
    }
  }
}

template void lstm_pointwise_fwd<float>(const PointwiseFwdArgsT<float>&);
template void lstm_pointwise_fwd<double>(const PointwiseFwdArgsT<double>&);
template void lstm_pointwise_bwd<float>(const PointwiseBwdArgsT<float>&);
template void lstm_pointwise_bwd<double>(const PointwiseBwdArgsT<double>&);

}  // namespace melodl::ref
