// lstm/cpu/cell.h: the fused pointwise parts of the GravesLSTM cell on the CPU (internal,
// Eigen). One call handles one batch row and the unit range [u0,u1) of all four gates, so a
// thread that owns a unit range never touches another thread's data. Vectorised by Eigen
// (AVX2 logistic/tanh). Spec: lstm/ref.h; tests: tests/lstm/backend_test.cpp.
#pragma once

#include <Eigen/Core>

namespace melodl::lstm::cpu {

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

// a: [G] pre-activations z of one row in, gate activations (i,f,g,o) out; cprev, c, h, tc:
// [H] (tc = tanh(c) saved for backward; may be null); p: [3,H] peepholes or null.
inline void cell_forward(float* a, const float* cprev, float* c, float* h, float* tc,
                         const float* p, int H, int u0, int u1) {
  const int n = u1 - u0;
  ArrayMap zi(a + u0, n), zf(a + H + u0, n), zg(a + 2 * H + u0, n), zo(a + 3 * H + u0, n);
  ConstArrayMap cp(cprev + u0, n);
  ArrayMap cn(c + u0, n), hn(h + u0, n);
  if (p) {
    zi = (zi + ConstArrayMap(p + u0, n) * cp).logistic();
    zf = (zf + ConstArrayMap(p + H + u0, n) * cp).logistic();
  } else {
    zi = zi.logistic();
    zf = zf.logistic();
  }
  zg = zg.tanh();
  cn = zf * cp + zi * zg;
  if (p) {
    zo = (zo + ConstArrayMap(p + 2 * H + u0, n) * cn).logistic();
  } else {
    zo = zo.logistic();
  }
  if (tc) {
    ArrayMap t(tc + u0, n);
    t = cn.tanh();
    hn = zo * t;
  } else {
    hn = zo * cn.tanh();
  }
}

// Backward of one row over units [u0,u1). a: [G] activations (i,f,g,o); cprev, c, tc: [H];
// dh: [H] total gradient on h_t; dc: [H] in: dc from step t+1, out: dc_{t-1}; dG: [G] out
// (gradients of the pre-activations z); dp: [3,H] peephole gradient accumulated (or null).
inline void cell_backward(const float* a, const float* cprev, const float* c, const float* tc,
                          const float* dh, float* dc, float* dG, const float* p, float* dp, int H,
                          int u0, int u1) {
  const int n = u1 - u0;
  ConstArrayMap i(a + u0, n), f(a + H + u0, n), g(a + 2 * H + u0, n), o(a + 3 * H + u0, n);
  ConstArrayMap cp(cprev + u0, n), cn(c + u0, n), t(tc + u0, n), dht(dh + u0, n);
  ArrayMap dct(dc + u0, n);
  ArrayMap dzi(dG + u0, n), dzf(dG + H + u0, n), dzg(dG + 2 * H + u0, n), dzo(dG + 3 * H + u0, n);
  dzo = dht * t * o * (1.0f - o);
  if (p) {
    dct += dht * o * (1.0f - t * t) + dzo * ConstArrayMap(p + 2 * H + u0, n);
  } else {
    dct += dht * o * (1.0f - t * t);
  }
  dzi = dct * g * i * (1.0f - i);
  dzf = dct * cp * f * (1.0f - f);
  dzg = dct * i * (1.0f - g * g);
  if (p) {
    dct = dct * f + dzi * ConstArrayMap(p + u0, n) + dzf * ConstArrayMap(p + H + u0, n);
    ArrayMap(dp + u0, n) += dzi * cp;
    ArrayMap(dp + H + u0, n) += dzf * cp;
    ArrayMap(dp + 2 * H + u0, n) += dzo * cn;
  } else {
    dct = dct * f;
  }
}

}  // namespace melodl::lstm::cpu
