// tests/kernels/lstm_layer_ref_test.cpp: makes the whole-layer reference trustworthy:
// ref::lstm_layer_backward<double> against central finite differences of the forward for
// every input (W, R, b, p, x, h0, c0), dense and one-hot input, peepholes on and off, plus
// forward invariances (segments with carried state; float vs double).
#include <gtest/gtest.h>

#include "tests/kernels/layer_compare.h"
#include "tests/kernels/layer_fixture.h"

namespace melodl {
namespace {

using test::expect_allclose;
using test::LayerProblem;
using test::LayerShape;

constexpr double kFdAtol = 1e-7, kFdRtol = 1e-6;  // see lstm_pointwise_ref_test.cpp

class LayerRef : public ::testing::TestWithParam<LayerShape> {};

TEST_P(LayerRef, BackwardMatchesFiniteDifferences) {
  LayerProblem P(GetParam());
  const auto& s = P.s;
  const auto g = P.backward_ref<double>(P.forward_ref<double>());
  auto L = [&] { return P.loss(); };
  const int64_t G = 4 * s.H;
  expect_allclose(g.dW, test::numeric_grad(P.W, L), kFdAtol, kFdRtol, "dW", {s.I, G});
  expect_allclose(g.dR, test::numeric_grad(P.R, L), kFdAtol, kFdRtol, "dR", {s.H, G});
  expect_allclose(g.db, test::numeric_grad(P.b, L), kFdAtol, kFdRtol, "db", {G});
  if (s.peephole)
    expect_allclose(g.dp, test::numeric_grad(P.p, L), kFdAtol, kFdRtol, "dp", {3, s.H});
  if (!s.onehot)
    expect_allclose(g.dx, test::numeric_grad(P.x, L), kFdAtol, kFdRtol, "dx", {s.T, s.B, s.I});
  expect_allclose(g.dh0, test::numeric_grad(P.h0, L), kFdAtol, kFdRtol, "dh0", {s.B, s.H});
  expect_allclose(g.dc0, test::numeric_grad(P.c0, L), kFdAtol, kFdRtol, "dc0", {s.B, s.H});
  EXPECT_GT(test::norm2(g.dR), 0.0);
  EXPECT_GT(test::norm2(g.dW), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerRef,
                         ::testing::Values(LayerShape{1, 1, 1, 1, true, false},
                                           LayerShape{3, 2, 4, 3, true, false},
                                           LayerShape{4, 2, 3, 2, false, false},
                                           LayerShape{3, 3, 5, 2, true, true},
                                           LayerShape{2, 1, 3, 3, false, true}),
                         [](const auto& info) { return info.param.name(); });

TEST(LayerRef, AccumulateAddsToGradients) {
  LayerProblem P(LayerShape{3, 2, 4, 3, true, false});
  const auto o = P.forward_ref<double>();
  const auto g1 = P.backward_ref<double>(o);
  // Run again accumulating into g1's buffers: every weight gradient doubles.
  auto g2 = g1;
  LayerBwdArgsT<double> a;
  a.T = 3;
  a.B = 2;
  a.I = 4;
  a.H = 3;
  a.accumulate = true;
  a.x = P.x.data();
  a.W = P.W.data();
  a.R = P.R.data();
  a.p = P.p.data();
  a.h0 = P.h0.data();
  a.c0 = P.c0.data();
  a.hs = o.hs.data();
  a.cs = o.cs.data();
  a.gates = o.gates.data();
  a.dhs = P.dhs.data();
  a.dh_T = P.dh_T.data();
  a.dc_T = P.dc_T.data();
  a.dW = g2.dW.data();
  a.dR = g2.dR.data();
  a.db = g2.db.data();
  a.dp = g2.dp.data();
  ref::lstm_layer_backward(a);
  auto twice = [](std::vector<double> v) {
    for (auto& x : v) x *= 2;
    return v;
  };
  expect_allclose(g2.dW, twice(g1.dW), 1e-14, 1e-13, "dW");
  expect_allclose(g2.dR, twice(g1.dR), 1e-14, 1e-13, "dR");
  expect_allclose(g2.db, twice(g1.db), 1e-14, 1e-13, "db");
  expect_allclose(g2.dp, twice(g1.dp), 1e-14, 1e-13, "dp");
}

TEST(LayerRef, SegmentsWithCarriedStateEqualOneSegment) {
  // Forward over T = 5 equals T = 2 then T = 3 starting from the first segment's final state.
  LayerProblem P(LayerShape{5, 2, 3, 4, true, false});
  const auto whole = P.forward_ref<double>();
  const size_t BH = 2 * 4, BI = 2 * 3;
  LayerProblem A = P, Bp = P;
  A.s.T = 2;
  A.x.resize(2 * BI);
  const auto first = A.forward_ref<double>();
  Bp.s.T = 3;
  Bp.x.assign(P.x.begin() + 2 * BI, P.x.end());
  Bp.h0.assign(first.hs.begin() + BH, first.hs.end());
  Bp.c0.assign(first.cs.begin() + BH, first.cs.end());
  const auto second = Bp.forward_ref<double>();
  std::vector<double> hs = first.hs;
  hs.insert(hs.end(), second.hs.begin(), second.hs.end());
  EXPECT_EQ(hs, whole.hs);
}

TEST(LayerRef, FloatTracksDouble) {
  LayerProblem P(LayerShape{37, 3, 5, 6, true, false});
  const auto od = P.forward_ref<double>();
  const auto of = P.forward_ref<float>();
  expect_allclose(of.hs, od.hs, 1e-5, 1e-4, "hs(float)", {37, 3, 6});
  expect_allclose(of.cs, od.cs, 1e-5, 1e-4, "cs(float)", {37, 3, 6});
  const auto gd = P.backward_ref<double>(od);
  const auto gf = P.backward_ref<float>(of);
  expect_allclose(gf.dR, gd.dR, 1e-4, 1e-3, "dR(float)");
  expect_allclose(gf.dW, gd.dW, 1e-4, 1e-3, "dW(float)");
}

TEST(LayerRef, RejectsBadArguments) {
  LayerFwdArgsT<double> a;
  EXPECT_THROW(ref::lstm_layer_forward(a), cuda::InvalidArgument);  // T = 0
  LayerProblem P(LayerShape{1, 1, 2, 1, true, true});
  std::vector<double> hs(1), cs(1), gates(4);
  a.T = a.B = a.H = 1;
  a.I = 2;
  a.symbols = P.symbols.data();
  a.x = P.W.data();  // both inputs set
  a.W = P.W.data();
  a.R = P.R.data();
  a.b = P.b.data();
  a.p = P.p.data();
  a.h0 = P.h0.data();
  a.c0 = P.c0.data();
  a.hs = hs.data();
  a.cs = cs.data();
  a.gates = gates.data();
  EXPECT_THROW(ref::lstm_layer_forward(a), cuda::InvalidArgument);
  a.x = nullptr;
  EXPECT_NO_THROW(ref::lstm_layer_forward(a));
}

// The comparison harness of kernels_cuda_test (tests/kernels/layer_compare.h) on the CPU, with
// ref<float> standing in for the device: every mode of a shape (exact fp32, TF32, persistent
// forward; each run twice) is compared against references built ONCE for the shape (they
// take seconds in double at the seed shape, device time on a GPU machine), and ref<float>
// passes the harness's tolerances (so the harness itself is sound).
TEST(LayerCompareHarness, BuildsTheReferencesOncePerShape) {
  for (const auto& shape :
       {LayerShape{5, 3, 4, 7, true, false}, LayerShape{4, 2, 6, 5, false, true}}) {
    LayerProblem P(shape);
    for (auto* v : {&P.x, &P.W, &P.R, &P.b, &P.p, &P.h0, &P.c0, &P.dhs, &P.dh_T, &P.dc_T})
      *v = test::cast<double>(test::cast<float>(*v));
    SCOPED_TRACE(P.s.name());
    int runs = 0;
    auto run = [&](cuda::GemmMath, bool) {
      ++runs;
      const auto o = P.forward_ref<float>();
      const auto g = P.backward_ref<float>(o);
      return test::CudaLayerResult{
          o.hs, o.cs,  o.gates, g.dW, g.dR, g.db, P.s.peephole ? g.dp : std::vector<float>{},
          g.dx, g.dh0, g.dc0};
    };
    const int before = test::LayerRefs::builds;
    test::check_every_mode(P, run, /*persistent_fits=*/true);
    EXPECT_EQ(runs, 6) << "3 modes, each run twice";
    EXPECT_EQ(test::LayerRefs::builds - before, 1) << "references built more than once per shape";
  }
}

}  // namespace
}  // namespace melodl
