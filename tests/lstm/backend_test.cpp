// tests/lstm/backend_test.cpp: the float Eigen backend (Trainer::compute_gradients,
// Network::run/step) against the double reference (lstm/ref.h), plus the invariances:
// run() equals a loop of step(), two chunks with carried state equal one chunk, same thread
// count -> bitwise identical, and thread counts agree within float tolerance.
// Run: ctest --test-dir build -R Backend
#include <gtest/gtest.h>

#include "lstm/ref.h"
#include "lstm_test_util.h"

namespace melodl::lstm {
namespace {

struct BackendCase {
  int layers, H, V, T, B, threads, bwd;
  bool peepholes, mask;
};

class BackendVsRef : public ::testing::TestWithParam<BackendCase> {};

TEST_P(BackendVsRef, LossGradientsAndStateMatchDoubleReference) {
  const BackendCase c = GetParam();
  Network net(test::small_config(c.V, c.layers, c.H, c.peepholes), test::on_cpu(c.threads));
  test::randomize(net, 21);
  const ParamLayout L = net.layout();
  std::vector<double> P(net.params().begin(), net.params().end());
  const auto seg = test::random_batch(c.T, c.B, c.V, 31, c.mask);

  // A non-zero incoming state, as after an earlier TBPTT segment.
  State s = net.zero_state(c.B);
  auto rs = ref::RefState<double>::zeros(L, c.B);
  std::mt19937_64 g(5);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (int l = 0; l < c.layers; ++l)
    for (std::size_t k = 0; k < s.h[l].size(); ++k) {
      s.h[l][k] = u(g);
      s.c[l][k] = u(g);
      rs.h[l][k] = s.h[l][k];
      rs.c[l][k] = s.c[l][k];
    }

  std::vector<double> ref_grad;
  const double ref_loss =
      ref::segment<double>(L, P, seg.inputs, seg.targets, seg.mask, c.T, c.B, rs, c.bwd, &ref_grad);
  Trainer trainer(std::move(net), TrainConfig{});
  const StepStats st = trainer.compute_gradients(seg.view(), s, c.bwd);
  const std::vector<float> grad(trainer.gradients().begin(), trainer.gradients().end());

  EXPECT_NEAR(st.loss_sum, ref_loss, 1e-5 * std::abs(ref_loss));
  for (int l = 0; l < c.layers; ++l) {
    // forward h, c: atol 1e-5, rtol 1e-4 (style.md 2.6)
    EXPECT_TRUE(test::allclose(s.h[l], rs.h[l], 1e-5, 1e-4)) << "h of layer " << l;
    EXPECT_TRUE(test::allclose(s.c[l], rs.c[l], 1e-5, 1e-4)) << "c of layer " << l;
  }
  // Gradients of the SUMMED loss grow with T*B; scale atol by the largest entry of each
  // tensor (BPTT gradients: atol 1e-4, rtol 1e-3 relative to that scale, style.md 2.6).
  test::expect_tensors_close(L, grad, ref_grad, 1e-4, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BackendVsRef,
                         ::testing::Values(BackendCase{1, 1, 3, 1, 1, 1, 0, true, false},
                                           BackendCase{1, 3, 5, 2, 7, 2, 0, true, false},
                                           BackendCase{2, 33, 11, 37, 7, 2, 0, true, true},
                                           BackendCase{2, 33, 11, 37, 1, 1, 10, false, false},
                                           BackendCase{3, 17, 9, 9, 4, 2, 4, true, true},
                                           BackendCase{2, 40, 13, 12, 5, 3, 0, true, false},
                                           BackendCase{1, 64, 20, 6, 3, 2, 0, false, true}));

TEST(Backend, RunLogitsMatchReference) {
  Network net(test::small_config(9, 2, 13, true), test::on_cpu());
  test::randomize(net, 2);
  std::vector<double> P(net.params().begin(), net.params().end());
  const int T = 6, B = 3;
  const auto seg = test::random_batch(T, B, 9, 4);
  State s = net.zero_state(B);
  std::vector<float> logits(static_cast<std::size_t>(T) * B * 9);
  net.run(seg.inputs, T, s, logits);
  auto rs = ref::RefState<double>::zeros(net.layout(), B);
  std::vector<double> ref_logits;
  ref::segment<double>(net.layout(), P, seg.inputs, seg.targets, {}, T, B, rs, 0, nullptr,
                       &ref_logits);
  EXPECT_TRUE(test::allclose(logits, ref_logits, 1e-5, 1e-4));
}

TEST(Backend, PerLayerRunAndStepMatchReference) {
  Network net(test::small_config(9, 3, 13, true), test::on_cpu());
  test::randomize(net, 12);
  std::vector<double> P(net.params().begin(), net.params().end());
  const int T = 7, B = 2, H = 13, V = 9;
  const auto seg = test::random_batch(T, B, V, 13);
  // chunk granularity: layer by layer over the whole chunk
  std::vector<float> x, y(static_cast<std::size_t>(T) * B * H);
  for (int l = 0; l < 3; ++l) {
    std::vector<float> h(static_cast<std::size_t>(B) * H, 0.0f), c(h);
    if (l == 0) {
      net.run_layer(0, T, B, {}, seg.inputs, h, c, y);
    } else {
      net.run_layer(l, T, B, x, {}, h, c, y);
    }
    x = y;
  }
  std::vector<float> logits(static_cast<std::size_t>(T) * B * V);
  net.output_layer(x, logits);
  auto rs = ref::RefState<double>::zeros(net.layout(), B);
  std::vector<double> ref_logits;
  ref::segment<double>(net.layout(), P, seg.inputs, seg.targets, {}, T, B, rs, 0, nullptr,
                       &ref_logits);
  EXPECT_TRUE(test::allclose(logits, ref_logits, 1e-5, 1e-4));
  // step granularity on layer 0 equals the chunk
  std::vector<float> h(static_cast<std::size_t>(B) * H, 0.0f), c(h), y0(h), all(y.size());
  std::vector<float> hc(h), cc(h);
  net.run_layer(0, T, B, {}, seg.inputs, hc, cc, all);
  for (int t = 0; t < T; ++t) {
    net.step_layer(0, B, {}, std::span<const std::int32_t>(seg.inputs).subspan(t * B, B), h, c, y0);
    EXPECT_TRUE(
        test::allclose(y0, std::span<const float>(all).subspan(t * B * H, B * H), 1e-6, 1e-5));
  }
  EXPECT_THROW(net.run_layer(1, T, B, {}, seg.inputs, h, c, y), InvalidArgument);
}

TEST(Backend, RunEqualsLoopOfStep) {
  Network net(test::small_config(7, 2, 10, true), test::on_cpu());
  test::randomize(net, 8);
  const int T = 9, B = 4, V = 7;
  const auto seg = test::random_batch(T, B, V, 6);
  State s1 = net.zero_state(B), s2 = net.zero_state(B);
  std::vector<float> all(static_cast<std::size_t>(T) * B * V), one(static_cast<std::size_t>(B) * V);
  net.run(seg.inputs, T, s1, all);
  for (int t = 0; t < T; ++t) {
    net.step(std::span<const std::int32_t>(seg.inputs).subspan(t * B, B), s2, one);
    const std::vector<float> expect(all.begin() + t * B * V, all.begin() + (t + 1) * B * V);
    EXPECT_TRUE(test::allclose(one, expect, 0, 0)) << "step " << t;
  }
  EXPECT_TRUE(test::allclose(s1.h[1], s2.h[1], 0, 0));
}

TEST(Backend, TwoChunksWithCarriedStateEqualOneChunk) {
  for (int threads : {1, 2}) {
    Network net(test::small_config(8, 2, 24, true), test::on_cpu(threads));
    test::randomize(net, 9);
    const int T = 10, B = 3;
    const auto seg = test::random_batch(T, B, 8, 7);
    Trainer tr(std::move(net), TrainConfig{});
    State whole = tr.network().zero_state(B), split = tr.network().zero_state(B);
    const double l_whole = tr.compute_gradients(seg.view(), whole).loss_sum;
    const Batch b = seg.view();
    const std::size_t cut = 4 * B;
    Batch first{4, B, b.inputs.first(cut), b.targets.first(cut), {}};
    Batch second{T - 4, B, b.inputs.subspan(cut), b.targets.subspan(cut), {}};
    double l_split = tr.compute_gradients(first, split).loss_sum;
    l_split += tr.compute_gradients(second, split).loss_sum;
    EXPECT_NEAR(l_whole, l_split, 1e-5 * l_whole);
    for (int l = 0; l < 2; ++l) {
      EXPECT_TRUE(test::allclose(split.h[l], whole.h[l], 1e-6, 1e-5));
      EXPECT_TRUE(test::allclose(split.c[l], whole.c[l], 1e-6, 1e-5));
    }
    // Inference path: Network::run over two chunks is bitwise the same as over one.
    State r1 = tr.network().zero_state(B), r2 = tr.network().zero_state(B);
    std::vector<float> la(static_cast<std::size_t>(T) * B * 8), lb(la.size());
    tr.network().run(b.inputs, T, r1, la);
    tr.network().run(b.inputs.first(cut), 4, r2, std::span<float>(lb).first(cut * 8));
    tr.network().run(b.inputs.subspan(cut), T - 4, r2, std::span<float>(lb).subspan(cut * 8));
    EXPECT_TRUE(test::allclose(la, lb, 0, 0));
  }
}

std::vector<float> train_some(int threads, std::uint64_t seed) {
  NetworkConfig cfg = test::small_config(12, 2, 40, true);
  cfg.seed = seed;
  TrainConfig tc;
  tc.optimizer.kind = OptimizerKind::adam;
  tc.optimizer.lr = 0.01f;
  tc.tbptt_fwd = 8;
  tc.tbptt_bwd = 8;
  Trainer tr{Network(cfg, test::on_cpu(threads)), tc};
  for (int k = 0; k < 3; ++k) tr.train_batch(test::random_batch(20, 6, 12, 100 + k).view());
  return {tr.network().params().begin(), tr.network().params().end()};
}

TEST(Backend, SameSeedAndThreadsIsBitwiseDeterministic) {
  EXPECT_TRUE(test::allclose(train_some(2, 5), train_some(2, 5), 0, 0));
  EXPECT_TRUE(test::allclose(train_some(1, 5), train_some(1, 5), 0, 0));
  EXPECT_FALSE(test::allclose(train_some(1, 5), train_some(1, 6), 0, 0));
}

TEST(Backend, ThreadCountsAgreeWithinFloatTolerance) {
  // Different thread counts split the GEMMs differently, so float rounding may differ;
  // after a few Adam steps the weights still agree closely.
  EXPECT_TRUE(test::allclose(train_some(1, 5), train_some(2, 5), 1e-4, 1e-3));
  EXPECT_TRUE(test::allclose(train_some(3, 5), train_some(2, 5), 1e-4, 1e-3));
}

}  // namespace
}  // namespace melodl::lstm
