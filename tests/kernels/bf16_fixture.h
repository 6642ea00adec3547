// tests/kernels/bf16_fixture.h: helpers shared by the bf16 tests (bf16_ref_test.cpp on the
// CPU, bf16_cuda_test.cpp on the GPU): the bf16 reference forward of a LayerProblem
// (tests/kernels/layer_fixture.h), a float-rounded problem, and the loose tolerances of
// GemmMath::kBf16 against exact math, derived from bf16's unit roundoff u = 2^-8.
#pragma once
#include <cmath>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/gemm.h"
#include "kernels/lstm_pointwise.h"
#include "tests/kernels/layer_fixture.h"
#include "tests/kernels/test_util.h"

namespace melodl::test {

constexpr double kBf16Unit = 1.0 / 256;  // 2^-8: relative error bound of one rounding

// Loose bound for a kBf16 GEMM vs exact math, operands U(-1,1): each product a*b (|ab| <= 1)
// carries a relative error <= 2u (two roundings, the product itself is exact in fp32), the
// K errors have random signs and add like a random walk (~sqrt(K) of them), and the result
// is scaled by |alpha|; a factor 2 covers the tail over thousands of elements. Any indexing
// bug is O(sqrt(K)), 20x larger.
inline double bf16_gemm_loose_atol(int K, double alpha) {
  return 2 * std::abs(alpha) * 2 * kBf16Unit * std::sqrt(double(K) + 1);
}

// Tight bound for a kBf16 GEMM vs ref::gemm_bf16<double> (the same rounded operands): the
// products are exact in fp32, only the fp32 summation differs; tensor cores may align with
// truncation, so allow K * 2^-21 * |alpha| (~25x the random-walk estimate of sequential
// fp32 summation), still >= 20x below the effect of not rounding or rounding differently.
inline double bf16_gemm_tight_atol(int K, double alpha) {
  return std::ldexp(double(K) + 1, -21) * std::abs(alpha) + 1e-5;
}

// Loose bound for a kBf16 layer forward (hs, cs, gates) vs exact math, weights
// U(+-1/sqrt(H)), |h| < 1: a pre-activation sum over H (and I) terms errs by about
// 2u * sqrt(H) * rms(h) * rms(R) (a few 1e-3 at most, random signs), the sigmoids have slope
// <= 1/4 and tanh <= 1, and the cell state carries past errors scaled by f < 1. Measured on
// the CPU (bf16_ref_test, Bf16LayerRef.LooseToleranceHoldsOnTheCpu prints it): at most
// 3.6e-3 over the GPU tests' shapes (seed dense layer: gates 3.6e-3, cs 3.0e-3, hs 1.5e-3).
// 1e-2 leaves ~3x; an fp32 GPU adds only ~1e-6 of summation-order noise.
constexpr double kBf16LayerAtol = 1e-2, kBf16LayerRtol = 1e-2;

// Gradients of a kBf16 layer (variant (a)'s backward, every GEMM on bf16 operands) vs
// exact math, as relative Frobenius norms ||got - exact|| / ||exact||: products carry <= 2u
// relative error with random signs, so a norm-wise error of order u = 4e-3 is expected.
// Measured on the CPU (Bf16LayerRef.BackwardCloseToExactAndToPlainBackward prints it): at
// most 3.3e-3 (dW of T2_B7_I3_H3), 2.6e-3 on the seed shapes; 1e-2 leaves ~3x.
constexpr double kBf16GradRelTol = 1e-2;

// The problem's data rounded to float (what a GPU sees), as a double problem.
inline LayerProblem float_problem(const LayerShape& shape, uint32_t seed = 100) {
  LayerProblem P(shape, seed);
  for (auto* v : {&P.x, &P.W, &P.R, &P.b, &P.p, &P.h0, &P.c0, &P.dhs, &P.dh_T, &P.dc_T})
    *v = cast<double>(cast<float>(*v));
  return P;
}

// ref::lstm_layer_forward_bf16 of the problem in scalar type S.
template <typename S>
LayerProblem::Outputs<S> forward_bf16_ref(const LayerProblem& P, bool training = true) {
  const auto& s = P.s;
  const size_t T = s.T, B = s.B, H = s.H;
  const auto xs = cast<S>(P.x), Ws = cast<S>(P.W), Rs = cast<S>(P.R), bs = cast<S>(P.b),
             ps = cast<S>(P.p), h0s = cast<S>(P.h0), c0s = cast<S>(P.c0);
  LayerProblem::Outputs<S> o{std::vector<S>(T * B * H), std::vector<S>(T * B * H),
                             std::vector<S>(T * B * 4 * H)};
  LayerFwdArgsT<S> a;
  a.T = s.T;
  a.B = s.B;
  a.I = s.I;
  a.H = s.H;
  a.peephole = s.peephole;
  a.training = training;
  a.symbols = s.onehot ? P.symbols.data() : nullptr;
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
  ref::lstm_layer_forward_bf16(a);
  return o;
}

// ref::lstm_layer_backward_bf16 of the problem in scalar type S on forward outputs o.
template <typename S>
LayerProblem::Grads<S> backward_bf16_ref(const LayerProblem& P, const LayerProblem::Outputs<S>& o) {
  const auto& s = P.s;
  const size_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
  const auto xs = cast<S>(P.x), Ws = cast<S>(P.W), Rs = cast<S>(P.R), ps = cast<S>(P.p),
             h0s = cast<S>(P.h0), c0s = cast<S>(P.c0), dhss = cast<S>(P.dhs),
             dhTs = cast<S>(P.dh_T), dcTs = cast<S>(P.dc_T);
  LayerProblem::Grads<S> g{std::vector<S>(I * G),
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
  a.symbols = s.onehot ? P.symbols.data() : nullptr;
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
  ref::lstm_layer_backward_bf16(a);
  return g;
}

// The bf16 spec applied one step at a time to given fp32 states (a GPU's own outputs): the
// input projection `proj` [T,B,G] and h_{t-1}, c_{t-1} taken from hs, cs [T,B,H] (h0, c0 at
// t = 0). Each step: z = proj_t + round(h_{t-1}) round(R), then the pointwise reference, in
// double. Fed the GPU's states, no rounding flip of h can differ from the GPU's, so the
// comparison is tight (fp32 summation order only). Checked on the CPU by bf16_ref_test.
inline LayerProblem::Outputs<double> teacher_forced_bf16_ref(const LayerProblem& P,
                                                             const std::vector<float>& hs,
                                                             const std::vector<float>& cs,
                                                             const std::vector<float>& proj) {
  const auto& s = P.s;
  const size_t T = s.T, B = s.B, H = s.H, G = 4 * H, BH = B * H;
  const auto Rr = ref::round_bf16(P.R.data(), int64_t(P.R.size()));
  LayerProblem::Outputs<double> o{std::vector<double>(T * BH), std::vector<double>(T * BH),
                                  std::vector<double>(T * B * G)};
  for (size_t t = 0; t < T; ++t) {
    const std::vector<double> h_prev =
        t ? cast<double>(std::vector<float>(hs.begin() + (t - 1) * BH, hs.begin() + t * BH)) : P.h0;
    const std::vector<double> c_prev =
        t ? cast<double>(std::vector<float>(cs.begin() + (t - 1) * BH, cs.begin() + t * BH)) : P.c0;
    const auto hr = ref::round_bf16(h_prev.data(), int64_t(BH));
    double* z = o.gates.data() + t * B * G;
    for (size_t k = 0; k < B * G; ++k) z[k] = proj[t * B * G + k];
    ref::gemm<double>(false, false, s.B, int(G), s.H, 1, hr.data(), s.H, Rr.data(), int(G), 1, z,
                      int(G));
    PointwiseFwdArgsT<double> pw;
    pw.B = s.B;
    pw.H = s.H;
    pw.peephole = s.peephole;
    pw.training = true;
    pw.z = z;
    pw.b = P.b.data();
    pw.p = s.peephole ? P.p.data() : nullptr;
    pw.c_prev = c_prev.data();
    pw.c = o.cs.data() + t * BH;
    pw.h = o.hs.data() + t * BH;
    pw.gates = z;
    ref::lstm_pointwise_fwd(pw);
  }
  return o;
}

// ||got - want|| / ||want|| (Frobenius; the absolute norm when want is zero).
template <typename A>
double rel_err(const std::vector<A>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t k = 0; k < got.size(); ++k) {
    const double d = static_cast<double>(got[k]) - want[k];
    num += d * d;
    den += want[k] * want[k];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace melodl::test
