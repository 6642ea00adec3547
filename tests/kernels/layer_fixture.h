// tests/kernels/layer_fixture.h: a seeded GravesLSTM layer problem (parameters, input,
// initial state, upstream gradients) shared by the CPU reference test and the CUDA test.
// Scales follow style.md 2.6: inputs U(-1,1), weights U(+-1/sqrt(H)), so gates are not
// saturated and backward bugs stay visible.
#pragma once
#include <cmath>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/lstm_layer.h"
#include "tests/kernels/test_util.h"

namespace melodl::test {

struct LayerShape {
  int T, B, I, H;
  bool peephole, onehot;
  std::string name() const {
    std::ostringstream os;  // not operator+: GCC 12 -O3 -Wrestrict false positive
    os << "T" << T << "_B" << B << "_I" << I << "_H" << H << (peephole ? "_peep" : "_nopeep")
       << (onehot ? "_onehot" : "_dense");
    return os.str();
  }
};

inline void PrintTo(const LayerShape& s, std::ostream* os) { *os << s.name(); }

struct LayerProblem {
  LayerShape s;
  std::vector<int32_t> symbols;               // [T,B] (one-hot)
  std::vector<double> x, W, R, b, p, h0, c0;  // dense x [T,B,I]
  std::vector<double> dhs, dh_T, dc_T;        // upstream gradients

  explicit LayerProblem(const LayerShape& shape, uint32_t seed = 100) : s(shape) {
    const size_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
    const double ws = 1.0 / std::sqrt(static_cast<double>(H));
    if (s.onehot)
      symbols = uniform_int(T * B, seed + 1, 0, s.I - 1);
    else
      x = uniform(T * B * I, seed + 2);
    W = uniform(I * G, seed + 3, -ws, ws);
    R = uniform(H * G, seed + 4, -ws, ws);
    b = uniform(G, seed + 5, -0.5, 0.5);
    p = uniform(3 * H, seed + 6, -0.5, 0.5);
    h0 = uniform(B * H, seed + 7, -0.5, 0.5);
    c0 = uniform(B * H, seed + 8);
    dhs = uniform(T * B * H, seed + 9);
    dh_T = uniform(B * H, seed + 10);
    dc_T = uniform(B * H, seed + 11);
  }

  template <typename S>
  struct Outputs {
    std::vector<S> hs, cs, gates;
  };
  template <typename S>
  struct Grads {
    std::vector<S> dW, dR, db, dp, dx, dh0, dc0;
  };

  // Reference forward in scalar type S.
  template <typename S>
  Outputs<S> forward_ref() const {
    const size_t T = s.T, B = s.B, H = s.H;
    const auto xs = cast<S>(x), Ws = cast<S>(W), Rs = cast<S>(R), bs = cast<S>(b), ps = cast<S>(p),
               h0s = cast<S>(h0), c0s = cast<S>(c0);
    Outputs<S> o{std::vector<S>(T * B * H), std::vector<S>(T * B * H),
                 std::vector<S>(T * B * 4 * H)};
    LayerFwdArgsT<S> a;
    a.T = s.T;
    a.B = s.B;
    a.I = s.I;
    a.H = s.H;
    a.peephole = s.peephole;
    a.symbols = s.onehot ? symbols.data() : nullptr;
    a.x = s.onehot ? nullptr : xs.data();
    a.W = Ws.data();
    a.R = Rs.data();
    a.b = bs.data();
    a.p = s.peephole ? ps.data() : nullptr;
    a.h0 = h0s.data();
    a.c0 = c0s.data();
    a.hs = o.hs.data();
    a.cs = o.cs.data();
    a.gates = o.gates.data();
    ref::lstm_layer_forward(a);
    return o;
  }

  // L = sum(dhs * hs) + sum(dh_T * h_{T-1}) + sum(dc_T * c_{T-1}).
  double loss() const {
    const auto o = forward_ref<double>();
    const size_t BH = size_t(s.B) * s.H, last = (size_t(s.T) - 1) * BH;
    double L = 0;
    for (size_t k = 0; k < o.hs.size(); ++k) L += dhs[k] * o.hs[k];
    for (size_t k = 0; k < BH; ++k) L += dh_T[k] * o.hs[last + k] + dc_T[k] * o.cs[last + k];
    return L;
  }

  template <typename S>
  Grads<S> backward_ref(const Outputs<S>& o) const {
    const size_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
    const auto xs = cast<S>(x), Ws = cast<S>(W), Rs = cast<S>(R), ps = cast<S>(p),
               h0s = cast<S>(h0), c0s = cast<S>(c0), dhss = cast<S>(dhs), dhTs = cast<S>(dh_T),
               dcTs = cast<S>(dc_T);
    Grads<S> g{std::vector<S>(I * G),
               std::vector<S>(H * G),
               std::vector<S>(G),
               std::vector<S>(3 * H),
               std::vector<S>(s.onehot ? 0 : T * B * I),
               std::vector<S>(B * H),
               std::vector<S>(B * H)};
    LayerBwdArgsT<S> a;
    a.T = s.T;
    a.B = s.B;
    a.I = s.I;
    a.H = s.H;
    a.peephole = s.peephole;
    a.symbols = s.onehot ? symbols.data() : nullptr;
    a.x = s.onehot ? nullptr : xs.data();
    a.W = Ws.data();
    a.R = Rs.data();
    a.p = s.peephole ? ps.data() : nullptr;
    a.h0 = h0s.data();
    a.c0 = c0s.data();
    a.hs = o.hs.data();
    a.cs = o.cs.data();
    a.gates = o.gates.data();
    a.dhs = dhss.data();
    a.dh_T = dhTs.data();
    a.dc_T = dcTs.data();
    a.dW = g.dW.data();
    a.dR = g.dR.data();
    a.db = g.db.data();
    a.dp = s.peephole ? g.dp.data() : nullptr;
    a.dx = s.onehot ? nullptr : g.dx.data();
    a.dh0 = g.dh0.data();
    a.dc0 = g.dc0.data();
    ref::lstm_layer_backward(a);
    return g;
  }
};

}  // namespace melodl::test
