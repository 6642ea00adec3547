// tests/lstm/gradient_test.cpp: the scalar reference (lstm/ref.h) in double against central
// finite differences, for every parameter tensor (W, R, b, peepholes, output layer), 1-3
// layers, odd sizes, masks, and truncated BPTT (state carried into a segment, no gradient
// across its boundary; backward window shorter than the segment), and dropout with its
// masks fixed.
// Run: ctest --test-dir build -R Gradient
#include <gtest/gtest.h>

#include "lstm/ref.h"
#include "lstm_test_util.h"

namespace melodl::lstm {
namespace {

struct GradCase {
  int layers, H, V, T, B;
  bool peepholes, mask;
  int prefix;  // steps run before the checked segment (state carried in, held constant)
};

class RefGradient : public ::testing::TestWithParam<GradCase> {};

TEST_P(RefGradient, MatchesCentralDifferences) {
  const GradCase c = GetParam();
  Network net(test::small_config(c.V, c.layers, c.H, c.peepholes), test::on_cpu());
  test::randomize(net, 7, 0.6f);
  const ParamLayout& L = net.layout();
  std::vector<double> P(net.params().begin(), net.params().end());
  const auto pre = test::random_batch(std::max(c.prefix, 1), c.B, c.V, 11);
  const auto seg = test::random_batch(c.T, c.B, c.V, 12, c.mask);

  // State entering the checked segment: computed once with the base parameters, then fixed.
  auto s0 = ref::RefState<double>::zeros(L, c.B);
  if (c.prefix > 0) ref::segment<double>(L, P, pre.inputs, pre.targets, {}, c.prefix, c.B, s0);

  auto loss_at = [&](const std::vector<double>& p) {
    auto s = s0;
    return ref::segment<double>(L, p, seg.inputs, seg.targets, seg.mask, c.T, c.B, s);
  };
  std::vector<double> grad;
  auto s = s0;
  ref::segment<double>(L, P, seg.inputs, seg.targets, seg.mask, c.T, c.B, s, 0, &grad);

  const double h = 1e-5;
  std::vector<double> numeric(P.size());
  for (std::size_t k = 0; k < P.size(); ++k) {
    auto p = P;
    p[k] = P[k] + h;
    const double lp = loss_at(p);
    p[k] = P[k] - h;
    const double lm = loss_at(p);
    numeric[k] = (lp - lm) / (2 * h);
  }
  // Per tensor, so a failure names the tensor. Every tensor must get a non-zero gradient.
  for (const auto& t : L.tensors) {
    std::vector<double> a(grad.begin() + t.offset, grad.begin() + t.offset + t.size());
    std::vector<double> e(numeric.begin() + t.offset, numeric.begin() + t.offset + t.size());
    // Central differences with h = 1e-5 in double: truncation ~h^2, rounding ~1e-16/h;
    // observed max relative error ~1e-9, so 1e-6 leaves a wide margin.
    EXPECT_TRUE(test::allclose(a, e, 1e-8, 1e-6)) << "tensor " << t.name;
    double norm = 0;
    for (double v : a) norm += v * v;
    EXPECT_GT(norm, 0.0) << "tensor " << t.name << " got an all-zero gradient";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, RefGradient,
                         ::testing::Values(GradCase{1, 3, 5, 4, 2, true, false, 0},
                                           GradCase{1, 1, 3, 3, 1, true, false, 2},
                                           GradCase{2, 5, 7, 3, 3, false, false, 3},
                                           GradCase{2, 4, 6, 5, 2, true, true, 4},
                                           GradCase{3, 3, 5, 4, 2, true, false, 3},
                                           GradCase{3, 2, 4, 2, 3, false, true, 0}));

// A backward window shorter than the segment equals splitting the segment at the window
// start: the prefix's state is carried in, and no gradient crosses into the prefix.
TEST(RefGradient, BackwardWindowEqualsSplitSegment) {
  for (bool peep : {true, false}) {
    Network net(test::small_config(6, 2, 4, peep), test::on_cpu());
    test::randomize(net, 3, 0.6f);
    const ParamLayout& L = net.layout();
    std::vector<double> P(net.params().begin(), net.params().end());
    const int T = 7, B = 2, bwd = 3;
    const auto seg = test::random_batch(T, B, 6, 5);
    auto s1 = ref::RefState<double>::zeros(L, B);
    std::vector<double> g1;
    const double loss1 =
        ref::segment<double>(L, P, seg.inputs, seg.targets, {}, T, B, s1, bwd, &g1);

    auto s2 = ref::RefState<double>::zeros(L, B);
    const std::size_t cut = static_cast<std::size_t>(T - bwd) * B;
    const std::span<const std::int32_t> in(seg.inputs), tg(seg.targets);
    const double la = ref::segment<double>(L, P, in.first(cut), tg.first(cut), {}, T - bwd, B, s2);
    std::vector<double> g2;
    const double lb =
        ref::segment<double>(L, P, in.subspan(cut), tg.subspan(cut), {}, bwd, B, s2, 0, &g2);
    EXPECT_NEAR(loss1, la + lb, 1e-12);
    EXPECT_TRUE(test::allclose(g1, g2, 1e-14, 1e-12));
    EXPECT_TRUE(test::allclose(s1.h[1], s2.h[1], 1e-15, 0));
  }
}

// Dropout with its masks fixed (output masks per step, variational and recurrent): the
// reference's gradient is that of the masked network's loss.
TEST(RefGradient, DropoutWithFixedMasksMatchesCentralDifferences) {
  for (bool variational : {false, true}) {
    Network net(test::small_config(6, 3, 4, true), test::on_cpu());
    test::randomize(net, 9, 0.6f);
    const ParamLayout& L = net.layout();
    const std::vector<double> P(net.params().begin(), net.params().end());
    const int T = 4, B = 2;
    const auto seg = test::random_batch(T, B, 6, 13, true);
    DropoutConfig d;
    d.output = 0.4f;
    d.recurrent = 0.3f;
    d.variational = variational;
    Rng rng(17);
    std::vector<float> masks;
    const std::size_t n_out = draw_dropout_masks(d, 3, 4, T, B, rng, masks);
    const std::span<const float> mo = std::span<const float>(masks).first(n_out),
                                 mr = std::span<const float>(masks).subspan(n_out);
    auto loss_at = [&](const std::vector<double>& p) {
      auto s = ref::RefState<double>::zeros(L, B);
      return ref::segment<double>(L, p, seg.inputs, seg.targets, seg.mask, T, B, s, 0, nullptr,
                                  nullptr, mo, mr);
    };
    std::vector<double> grad;
    auto s = ref::RefState<double>::zeros(L, B);
    ref::segment<double>(L, P, seg.inputs, seg.targets, seg.mask, T, B, s, 0, &grad, nullptr, mo,
                         mr);
    const double h = 1e-5;
    std::vector<double> numeric(P.size());
    for (std::size_t k = 0; k < P.size(); ++k) {
      auto p = P;
      p[k] = P[k] + h;
      const double lp = loss_at(p);
      p[k] = P[k] - h;
      numeric[k] = (lp - loss_at(p)) / (2 * h);
    }
    for (const auto& t : L.tensors) {
      std::vector<double> a(grad.begin() + t.offset, grad.begin() + t.offset + t.size());
      std::vector<double> e(numeric.begin() + t.offset, numeric.begin() + t.offset + t.size());
      EXPECT_TRUE(test::allclose(a, e, 1e-8, 1e-6)) << "tensor " << t.name;
    }
    // the masks matter: without them the loss differs
    auto s0 = ref::RefState<double>::zeros(L, B);
    EXPECT_NE(ref::segment<double>(L, P, seg.inputs, seg.targets, seg.mask, T, B, s0), loss_at(P));
  }
}

}  // namespace
}  // namespace melodl::lstm
