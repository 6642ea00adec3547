// tests/kernels/bf16_ref_test.cpp: the CPU spec of GemmMath::kBf16 (kernels/bf16.h):
// fp32 -> bf16 rounding on hand-picked values (ties to even, subnormals, NaN, Inf, the
// largest finite values) and against an independent nearest-value oracle on many bit
// patterns; gemm_bf16 equals ref::gemm on rounded copies; the bf16 layer forward equals the
// plain reference on rounded inputs for one step, carries its state across segments, stays
// within the loose tolerance the GPU tests use, and really differs from exact math.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/gemm.h"
#include "tests/kernels/bf16_fixture.h"
#include "tests/kernels/test_util.h"

namespace melodl {
namespace {

using test::cast;
using test::LayerProblem;
using test::LayerShape;

float from_bits(uint32_t u) { return std::bit_cast<float>(u); }

struct Case {
  uint32_t in;    // fp32 bit pattern
  uint16_t want;  // bf16 bit pattern
  const char* what;
};

TEST(Bf16Ref, RoundsHandPickedValues) {
  const Case cases[] = {
      {0x3f800000u, 0x3f80, "1 is exact"},
      {0x3f808000u, 0x3f80, "1 + 2^-8: tie, kept part even -> down"},
      {0x3f818000u, 0x3f82, "1 + 3*2^-8: tie, kept part odd -> up to even"},
      {0x3f808001u, 0x3f81, "just above a tie -> up"},
      {0x3f807fffu, 0x3f80, "just below a tie -> down"},
      {0xbf818000u, 0xbf82, "negative tie -> to even (magnitude up)"},
      {0xbf808001u, 0xbf81, "negative, just above a tie in magnitude"},
      {0x40490fdbu, 0x4049, "pi -> 3.140625"},
      {0x3dcccccdu, 0x3dcd, "0.1f -> up"},
      {0x00000000u, 0x0000, "+0"},
      {0x80000000u, 0x8000, "-0 keeps its sign"},
      {0x00000001u, 0x0000, "smallest fp32 subnormal -> +0"},
      {0x80000001u, 0x8000, "negative tiny subnormal -> -0"},
      {0x00008000u, 0x0000, "subnormal tie, kept part even (0) -> 0"},
      {0x00018000u, 0x0002, "subnormal tie, kept part odd -> up"},
      {0x00008001u, 0x0001, "subnormal above a tie -> smallest bf16 subnormal"},
      {0x00010000u, 0x0001, "smallest bf16 subnormal (2^-133) is exact"},
      {0x007f0000u, 0x007f, "largest bf16 subnormal is exact"},
      {0x007fffffu, 0x0080, "largest fp32 subnormal -> smallest normal (carry)"},
      {0x00800000u, 0x0080, "smallest normal is exact"},
      {0x7f7f0000u, 0x7f7f, "largest finite bf16 is exact"},
      {0x7f7f7fffu, 0x7f7f, "just below the half-way point above it -> stays"},
      {0x7f7f8000u, 0x7f80, "half-way above the largest (odd) -> +Inf"},
      {0x7f7fffffu, 0x7f80, "FLT_MAX -> +Inf"},
      {0xff7fffffu, 0xff80, "-FLT_MAX -> -Inf"},
      {0x7f800000u, 0x7f80, "+Inf"},
      {0xff800000u, 0xff80, "-Inf"},
      {0x3f7fffffu, 0x3f80, "largest float below 1 -> 1 (carry into the exponent)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ref::bf16_bits(from_bits(c.in)), c.want)
        << c.what << " (in 0x" << std::hex << c.in << ")";
    EXPECT_EQ(std::bit_cast<uint32_t>(ref::round_bf16(from_bits(c.in))), uint32_t(c.want) << 16)
        << c.what;
  }
}

TEST(Bf16Ref, NaNStaysNaN) {
  // Quiet, signalling (whose naive rounding would carry into Inf), negative, payloads.
  for (uint32_t u :
       {0x7fc00000u, 0x7f800001u, 0x7f80ffffu, 0xffc00000u, 0xff800001u, 0x7fffffffu}) {
    EXPECT_EQ(ref::bf16_bits(from_bits(u)), 0x7fff) << std::hex << u;
    EXPECT_TRUE(std::isnan(ref::round_bf16(from_bits(u)))) << std::hex << u;
  }
  EXPECT_TRUE(std::isnan(ref::round_bf16(std::numeric_limits<double>::quiet_NaN())));
}

TEST(Bf16Ref, DoubleGoesThroughFloatAndMatchesFloatPath) {
  EXPECT_EQ(ref::round_bf16(1.0 + 1.0 / 256), 1.0);
  EXPECT_EQ(ref::round_bf16(1.0 + 3.0 / 256), 1.0 + 4.0 / 256);
  EXPECT_EQ(ref::round_bf16(-2.5), -2.5);
  EXPECT_EQ(ref::round_bf16(1e300), std::numeric_limits<double>::infinity());
  const std::vector<double> v = {0.1, -0.3, 1e-40, 7.0 / 3};
  const auto r = ref::round_bf16(v.data(), int64_t(v.size()));
  for (size_t k = 0; k < v.size(); ++k)
    EXPECT_EQ(r[k], double(ref::round_bf16(static_cast<float>(v[k])))) << k;
}

// Oracle: the two bf16 neighbours of x (truncation and one bf16 ulp above it in magnitude),
// compared in double (exact for these values); ties go to the even bit pattern.
uint16_t oracle_bits(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if (std::isnan(x)) return 0x7fff;
  if (std::isinf(x)) return static_cast<uint16_t>(u >> 16);
  const uint16_t lo = static_cast<uint16_t>(u >> 16), hi = static_cast<uint16_t>(lo + 1);
  const double xd = x, dlo = std::abs(double(ref::bf16_to_float(lo)) - xd);
  // hi may be Inf (lo = largest finite): its distance is measured to 2^128, the value that
  // round-to-nearest treats as the next step beyond the largest finite number.
  const double hi_val = (hi & 0x7fff) == 0x7f80 ? std::copysign(std::ldexp(1.0, 128), xd)
                                                : double(ref::bf16_to_float(hi));
  const double dhi = std::abs(hi_val - xd);
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

TEST(Bf16Ref, MatchesNearestValueOracleOnManyBitPatterns) {
  std::mt19937 gen(7);
  size_t bad = 0;
  auto check = [&](uint32_t u) {
    const float x = from_bits(u);
    const uint16_t got = ref::bf16_bits(x), want = oracle_bits(x);
    if (got != want && bad++ < 5)
      ADD_FAILURE() << "0x" << std::hex << u << ": got 0x" << got << ", oracle 0x" << want;
  };
  for (int k = 0; k < 1000000; ++k) check(static_cast<uint32_t>(gen()));
  // Every high half with the low halves around the tie point and the extremes.
  for (uint32_t h = 0; h < 0x10000u; ++h)
    for (uint32_t l : {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) check(h << 16 | l);
  EXPECT_EQ(bad, 0u);
}

TEST(Bf16Ref, GemmBf16IsGemmOnRoundedOperands) {
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      const int M = 7, N = 9, K = 13, pad = 2;
      const int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
      const int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
      const auto A = test::uniform(size_t(a_rows) * lda, 11);
      const auto Bm = test::uniform(size_t(b_rows) * ldb, 12);
      const auto C0 = test::uniform(size_t(M) * ldc, 13);
      auto got = C0, want = C0, exact = C0;
      ref::gemm_bf16<double>(ta, tb, M, N, K, 1.5, A.data(), lda, Bm.data(), ldb, 0.5, got.data(),
                             ldc);
      const auto Ar = ref::round_bf16(A.data(), int64_t(A.size()));
      const auto Br = ref::round_bf16(Bm.data(), int64_t(Bm.size()));
      ref::gemm<double>(ta, tb, M, N, K, 1.5, Ar.data(), lda, Br.data(), ldb, 0.5, want.data(),
                        ldc);
      ref::gemm<double>(ta, tb, M, N, K, 1.5, A.data(), lda, Bm.data(), ldb, 0.5, exact.data(),
                        ldc);
      EXPECT_EQ(got, want) << "ta=" << ta << " tb=" << tb;
      // C is not rounded, the products are: close to exact within the loose bound, not equal.
      const double err = test::max_abs_diff(got, exact);
      EXPECT_LE(err, test::bf16_gemm_loose_atol(K, 1.5)) << "ta=" << ta << " tb=" << tb;
      EXPECT_GT(err, 1e-4) << "bf16 rounding had no effect";
    }
  }
}

// The GPU GEMM test's bounds on its shapes (alpha 1.5, beta 0.5, U(-1,1)): fp32 summation
// of the rounded operands (gemm_bf16<float>) stays within the tight bound of the double
// result, and bf16 vs exact stays within the loose bound but outside the tight one.
TEST(Bf16Ref, GemmTolerancesHoldOnTheCpu) {
  for (const auto& [M, N, K] : {std::tuple{1, 1, 1}, std::tuple{7, 33, 5}, std::tuple{37, 257, 129},
                                std::tuple{32, 800, 200}, std::tuple{16, 48, 3200}}) {
    SCOPED_TRACE(testing::Message() << "M=" << M << " N=" << N << " K=" << K);
    const auto A = cast<double>(test::uniform<float>(size_t(M) * K, 31));
    const auto Bm = cast<double>(test::uniform<float>(size_t(K) * N, 32));
    const auto C = cast<double>(test::uniform<float>(size_t(M) * N, 33));
    auto d = C, exact = C;
    auto f = cast<float>(C);
    const auto Af = cast<float>(A), Bf = cast<float>(Bm);
    ref::gemm_bf16<double>(false, false, M, N, K, 1.5, A.data(), K, Bm.data(), N, 0.5, d.data(), N);
    ref::gemm_bf16<float>(false, false, M, N, K, 1.5f, Af.data(), K, Bf.data(), N, 0.5f, f.data(),
                          N);
    ref::gemm<double>(false, false, M, N, K, 1.5, A.data(), K, Bm.data(), N, 0.5, exact.data(), N);
    const double e_f = test::max_abs_diff(f, d), e_ex = test::max_abs_diff(d, exact);
    std::printf(
        "M=%d N=%d K=%d: fp32 summation %.3g (tight %.3g), bf16 vs exact %.3g (loose %.3g)\n", M, N,
        K, e_f, test::bf16_gemm_tight_atol(K, 1.5), e_ex, test::bf16_gemm_loose_atol(K, 1.5));
    EXPECT_LE(e_f, test::bf16_gemm_tight_atol(K, 1.5) / 4);
    EXPECT_LE(e_ex, test::bf16_gemm_loose_atol(K, 1.5) / 2);
    if (K > 1) {
      EXPECT_GT(e_ex, 2 * test::bf16_gemm_tight_atol(K, 1.5));
    }
  }
}

// One step: the bf16 forward is the plain forward on rounded R and h0 (and rounded x, W
// for a dense input; the one-hot gather copies W unrounded), bit for bit in double.
TEST(Bf16LayerRef, OneStepIsPlainForwardOnRoundedInputs) {
  for (const LayerShape& s :
       {LayerShape{1, 3, 5, 7, true, false}, LayerShape{1, 4, 6, 5, true, true},
        LayerShape{1, 2, 3, 9, false, false}}) {
    SCOPED_TRACE(s.name());
    const LayerProblem P = test::float_problem(s);
    LayerProblem Q = P;
    Q.R = ref::round_bf16(P.R.data(), int64_t(P.R.size()));
    Q.h0 = ref::round_bf16(P.h0.data(), int64_t(P.h0.size()));
    if (!s.onehot) {
      Q.x = ref::round_bf16(P.x.data(), int64_t(P.x.size()));
      Q.W = ref::round_bf16(P.W.data(), int64_t(P.W.size()));
    }
    const auto got = test::forward_bf16_ref<double>(P);
    const auto want = Q.forward_ref<double>();
    EXPECT_EQ(got.hs, want.hs);
    EXPECT_EQ(got.cs, want.cs);
    EXPECT_EQ(got.gates, want.gates);
    if (s.onehot) {  // rounding W as well would be a different (wrong) model of the gather
      Q.W = ref::round_bf16(P.W.data(), int64_t(P.W.size()));
      EXPECT_NE(Q.forward_ref<double>().hs, got.hs);
    }
  }
}

// h_{t-1} is rounded where it enters the product, every step: two segments with the state
// carried (unrounded) equal one segment, bit for bit.
TEST(Bf16LayerRef, SegmentsWithCarriedStateEqualOneSegment) {
  for (bool onehot : {false, true}) {
    const LayerShape s{7, 3, 5, 9, true, onehot};
    SCOPED_TRACE(s.name());
    const LayerProblem P = test::float_problem(s);
    const auto whole = test::forward_bf16_ref<double>(P);
    const int t1 = 3;
    const size_t B = s.B, H = s.H, I = s.I, G = 4 * H, BH = B * H;
    LayerProblem P1 = P, P2 = P;
    P1.s.T = t1;
    P2.s.T = s.T - t1;
    if (onehot) {
      P1.symbols.assign(P.symbols.begin(), P.symbols.begin() + t1 * B);
      P2.symbols.assign(P.symbols.begin() + t1 * B, P.symbols.end());
    } else {
      P1.x.assign(P.x.begin(), P.x.begin() + t1 * B * I);
      P2.x.assign(P.x.begin() + t1 * B * I, P.x.end());
    }
    const auto first = test::forward_bf16_ref<double>(P1);
    P2.h0.assign(first.hs.end() - BH, first.hs.end());
    P2.c0.assign(first.cs.end() - BH, first.cs.end());
    const auto second = test::forward_bf16_ref<double>(P2);
    auto cat = [](std::vector<double> a, const std::vector<double>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    EXPECT_EQ(cat(first.hs, second.hs), whole.hs);
    EXPECT_EQ(cat(first.cs, second.cs), whole.cs);
    EXPECT_EQ(cat(first.gates, second.gates), whole.gates);
    EXPECT_EQ(whole.gates.size(), size_t(s.T) * B * G);
  }
}

// Inference computes the same h and c as training.
TEST(Bf16LayerRef, InferenceEqualsTraining) {
  const LayerProblem P = test::float_problem(LayerShape{5, 3, 4, 6, true, false});
  const auto train = test::forward_bf16_ref<double>(P, true);
  const auto infer = test::forward_bf16_ref<double>(P, false);
  EXPECT_EQ(train.hs, infer.hs);
  EXPECT_EQ(train.cs, infer.cs);
}

// The GPU test's step-by-step reference (teacher_forced_bf16_ref), fed the fp32 bf16
// reference's own states and input projection, reproduces that reference within the GPU
// test's tight tolerance: the helper itself is right before any GPU runs it.
TEST(Bf16LayerRef, TeacherForcedReferenceReproducesTheSpec) {
  for (const LayerShape& s :
       {LayerShape{1, 1, 1, 1, true, false}, LayerShape{37, 7, 5, 33, true, false},
        LayerShape{37, 1, 33, 33, false, false}, LayerShape{37, 7, 17, 257, true, true}}) {
    SCOPED_TRACE(s.name());
    const LayerProblem P = test::float_problem(s);
    const auto f = test::forward_bf16_ref<float>(P);
    const size_t N = size_t(s.T) * s.B, G = 4 * size_t(s.H);
    std::vector<float> proj(N * G);
    const auto Wf = cast<float>(P.W), xf = cast<float>(P.x);
    if (s.onehot) {
      for (size_t n = 0; n < N; ++n)
        for (size_t g = 0; g < G; ++g) proj[n * G + g] = Wf[size_t(P.symbols[n]) * G + g];
    } else {
      ref::gemm_bf16<float>(false, false, int(N), int(G), s.I, 1, xf.data(), s.I, Wf.data(), int(G),
                            0, proj.data(), int(G));
    }
    const auto want = test::teacher_forced_bf16_ref(P, f.hs, f.cs, proj);
    const std::vector<int64_t> dims = {s.T, s.B, s.H};
    test::expect_allclose(f.hs, want.hs, 2e-5, 1e-4, "hs", dims);
    test::expect_allclose(f.cs, want.cs, 2e-5, 1e-4, "cs", dims);
    test::expect_allclose(f.gates, want.gates, 2e-5, 1e-4, "gates");
    // and it is sensitive: fp32 states of the exact (unrounded) forward do not pass
    const auto ex = P.forward_ref<float>();
    EXPECT_GT(test::max_abs_diff(ex.hs, test::teacher_forced_bf16_ref(P, ex.hs, ex.cs, proj).hs),
              2e-5);
  }
}

// The loose tolerance of the GPU tests (bf16 vs exact) holds for the references on the GPU
// tests' shapes, and the bf16 forward really differs from the exact one.
TEST(Bf16LayerRef, LooseToleranceHoldsOnTheCpu) {
  for (const LayerShape& s :
       {LayerShape{1, 1, 1, 1, true, false}, LayerShape{2, 7, 3, 3, true, false},
        LayerShape{37, 7, 5, 33, true, false}, LayerShape{37, 1, 33, 33, false, false},
        LayerShape{37, 7, 17, 257, true, true}, LayerShape{50, 32, 80, 200, true, true},
        LayerShape{50, 32, 200, 200, true, false}}) {
    SCOPED_TRACE(s.name());
    const LayerProblem P = test::float_problem(s);
    const auto bf = test::forward_bf16_ref<double>(P);
    const auto ex = P.forward_ref<double>();
    const double e_h = test::max_abs_diff(bf.hs, ex.hs), e_c = test::max_abs_diff(bf.cs, ex.cs),
                 e_g = test::max_abs_diff(bf.gates, ex.gates);
    std::printf("%s: max |bf16 - exact| hs %.3g cs %.3g gates %.3g (atol %.3g)\n", s.name().c_str(),
                e_h, e_c, e_g, test::kBf16LayerAtol);
    test::expect_allclose(bf.hs, ex.hs, test::kBf16LayerAtol, test::kBf16LayerRtol, "hs");
    test::expect_allclose(bf.cs, ex.cs, test::kBf16LayerAtol, test::kBf16LayerRtol, "cs");
    test::expect_allclose(bf.gates, ex.gates, test::kBf16LayerAtol, test::kBf16LayerRtol, "gates");
    EXPECT_GT(e_h, 1e-6) << "bf16 rounding had no effect";
    // float tracks double in the bf16 model too (the GPU tests calibrate on this)
    const auto bff = test::forward_bf16_ref<float>(P);
    EXPECT_LT(test::max_abs_diff(bff.hs, bf.hs), 1e-3);
  }
}

// The bf16 backward (variant (a)'s products on rounded operands): every gradient within
// kBf16GradRelTol (relative Frobenius norm) of the exact gradients and of the plain backward
// on the same bf16 activations, but not equal to the latter. Prints the measured errors
// (the calibration of the GPU bound in bf16_fixture.h).
TEST(Bf16LayerRef, BackwardCloseToExactAndToPlainBackward) {
  for (const LayerShape& s :
       {LayerShape{2, 7, 3, 3, true, false}, LayerShape{37, 7, 5, 33, true, false},
        LayerShape{37, 1, 33, 33, false, false}, LayerShape{37, 7, 17, 257, true, true},
        LayerShape{50, 32, 80, 200, true, true}}) {  // (the seed's dense layer: 2.6e-3 max)
    SCOPED_TRACE(s.name());
    const LayerProblem P = test::float_problem(s);
    const auto fb = test::forward_bf16_ref<double>(P);
    const auto gb = test::backward_bf16_ref<double>(P, fb);
    const auto ge = P.backward_ref<double>(P.forward_ref<double>());
    const auto gp = P.backward_ref<double>(fb);
    const std::pair<const char*, std::vector<const std::vector<double>*>> grads[] = {
        {"dW", {&gb.dW, &ge.dW, &gp.dW}},    {"dR", {&gb.dR, &ge.dR, &gp.dR}},
        {"db", {&gb.db, &ge.db, &gp.db}},    {"dp", {&gb.dp, &ge.dp, &gp.dp}},
        {"dx", {&gb.dx, &ge.dx, &gp.dx}},    {"dh0", {&gb.dh0, &ge.dh0, &gp.dh0}},
        {"dc0", {&gb.dc0, &ge.dc0, &gp.dc0}}};
    double worst = 0;
    for (const auto& [name, v] : grads) {
      if (v[0]->empty()) continue;  // dx of a one-hot input
      const double e_exact = test::rel_err(*v[0], *v[1]), e_plain = test::rel_err(*v[0], *v[2]);
      std::printf("%s %s: relative error vs exact %.3g, vs plain backward %.3g\n", s.name().c_str(),
                  name, e_exact, e_plain);
      EXPECT_LT(e_exact, test::kBf16GradRelTol) << name;
      EXPECT_LT(e_plain, test::kBf16GradRelTol) << name;
      worst = std::max(worst, e_plain);
    }
    EXPECT_GT(worst, 1e-6) << "bf16 rounding had no effect on the backward";
  }
}

// accumulate adds to dW, dR, db, dp (as the plain reference does).
TEST(Bf16LayerRef, BackwardAccumulateDoubles) {
  const LayerProblem P = test::float_problem(LayerShape{4, 3, 5, 6, true, false});
  const auto fb = test::forward_bf16_ref<double>(P);
  const auto once = test::backward_bf16_ref<double>(P, fb);
  auto twice = once;
  LayerBwdArgsT<double> a;  // the same call as backward_bf16_ref, accumulating into `twice`
  const auto& s = P.s;
  a.T = s.T;
  a.B = s.B;
  a.I = s.I;
  a.H = s.H;
  a.peephole = s.peephole;
  a.accumulate = true;
  a.x = P.x.data();
  a.W = P.W.data();
  a.R = P.R.data();
  a.p = P.p.data();
  a.h0 = P.h0.data();
  a.c0 = P.c0.data();
  a.hs = fb.hs.data();
  a.cs = fb.cs.data();
  a.gates = fb.gates.data();
  a.dhs = P.dhs.data();
  a.dh_T = P.dh_T.data();
  a.dc_T = P.dc_T.data();
  a.dW = twice.dW.data();
  a.dR = twice.dR.data();
  a.db = twice.db.data();
  a.dp = twice.dp.data();
  a.dx = twice.dx.data();
  ref::lstm_layer_backward_bf16(a);
  auto doubled = [](std::vector<double> v) {
    for (auto& x : v) x *= 2;
    return v;
  };
  test::expect_allclose(twice.dW, doubled(once.dW), 1e-12, 1e-12, "dW");
  test::expect_allclose(twice.dR, doubled(once.dR), 1e-12, 1e-12, "dR");
  test::expect_allclose(twice.db, doubled(once.db), 1e-12, 1e-12, "db");
  test::expect_allclose(twice.dp, doubled(once.dp), 1e-12, 1e-12, "dp");
  EXPECT_EQ(twice.dx, once.dx);  // overwritten, never accumulated
}

}  // namespace
}  // namespace melodl
