// tests/lstm/trainer_test.cpp: training behaviour: the network learns a synthetic melody to
// near-zero loss; masked positions carry no loss or gradient; the MelodyModelingExample
// preset (parameter count 541,859 as in the original README); DL4J score; config errors.
// Run: ctest --test-dir build -R Trainer
#include <gtest/gtest.h>

#include "lstm/sampler.h"
#include "lstm_test_util.h"

namespace melodl::lstm {
namespace {

// A fixed 12-symbol melody, repeated; windows start at different offsets.
const std::vector<std::int32_t> kMelody = {0, 2, 4, 5, 7, 5, 4, 2, 0, 7, 7, 1};

test::RandomBatch melody_batch(int T, int B, int first_offset) {
  test::RandomBatch r;
  r.T = T;
  r.B = B;
  const int n = static_cast<int>(kMelody.size());
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b) {
      const int pos = first_offset + 5 * b + t;
      r.inputs.push_back(kMelody[pos % n]);
      r.targets.push_back(kMelody[(pos + 1) % n]);
    }
  return r;
}

TEST(Trainer, LearnsARepeatingMelodyToNearZeroLoss) {
  NetworkConfig cfg = test::small_config(8, 1, 32, true);
  TrainConfig tc;
  tc.optimizer.kind = OptimizerKind::adam;
  tc.optimizer.lr = 0.02f;
  tc.tbptt_fwd = 12;
  tc.tbptt_bwd = 12;
  Trainer tr(Network(cfg, test::on_cpu(2)), tc);
  StepStats first, last;
  for (int k = 0; k < 60; ++k) {
    const auto b = melody_batch(36, 4, k);
    last = tr.train_batch(b.view());
    if (k == 0) first = last;
  }
  EXPECT_GT(first.mean_nats(), 1.0);
  EXPECT_LT(last.mean_nats(), 0.05) << "bits/symbol " << last.bits_per_symbol();
  EXPECT_EQ(tr.step_count(), 60 * 3);
  // Greedy continuation reproduces the melody after a prime of one period.
  Sampler sampler(tr.network(), SampleConfig{0.0f, 0, 1});
  const auto out = sampler.sample(1, 24, kMelody);
  for (int k = 0; k < 24; ++k) EXPECT_EQ(out[0][k], kMelody[k % 12]) << "position " << k;
}

TEST(Trainer, DefaultTbpttLearnsWithDl4jPreset) {
  // The DL4J preset (RMSProp 0.1 in DL4J order, L2 1e-3) on a small network: loss drops.
  NetworkConfig cfg = test::small_config(8, 2, 24, true);
  TrainConfig tc = TrainConfig::melody_modeling_example();
  tc.tbptt_fwd = tc.tbptt_bwd = 10;
  Trainer tr(Network(cfg, test::on_cpu(2)), tc);
  double first = 0, last = 0;
  for (int k = 0; k < 40; ++k) {
    const auto s = tr.train_batch(melody_batch(30, 8, k).view());
    if (k == 0) first = s.mean_nats();
    last = s.mean_nats();
  }
  EXPECT_LT(last, 0.5 * first);
}

TEST(Trainer, MaskedPositionsCarryNoLossAndNoGradient) {
  Network net(test::small_config(6, 2, 9, true), test::on_cpu());
  test::randomize(net, 4);
  Trainer tr(std::move(net), TrainConfig{});
  auto a = test::random_batch(7, 3, 6, 40, /*with_mask=*/true);
  auto b = a;
  double ones = 0;
  for (std::size_t k = 0; k < b.mask.size(); ++k) {
    ones += b.mask[k];
    if (b.mask[k] == 0.0f) b.targets[k] = (b.targets[k] + 1) % 6;  // differs only where masked
  }
  ASSERT_GT(ones, 0);
  ASSERT_LT(ones, static_cast<double>(a.mask.size()));
  State sa = tr.network().zero_state(3), sb = tr.network().zero_state(3);
  const StepStats ra = tr.compute_gradients(a.view(), sa);
  const std::vector<float> ga(tr.gradients().begin(), tr.gradients().end());
  const StepStats rb = tr.compute_gradients(b.view(), sb);
  const std::vector<float> gb(tr.gradients().begin(), tr.gradients().end());
  EXPECT_EQ(ra.count, ones);
  EXPECT_EQ(ra.loss_sum, rb.loss_sum);
  EXPECT_TRUE(test::allclose(ga, gb, 0, 0));
}

TEST(Trainer, MelodyModelingPresetMatchesOriginal) {
  const NetworkConfig cfg = melody_modeling_network(59);
  EXPECT_EQ(cfg.layers, 2);
  EXPECT_EQ(cfg.hidden, 200);
  EXPECT_TRUE(cfg.peepholes);
  EXPECT_EQ(ParamLayout::for_config(cfg).total, 541859u);  // the original README's count
  const TrainConfig tc = TrainConfig::melody_modeling_example();
  EXPECT_EQ(tc.optimizer.kind, OptimizerKind::dl4j_rmsprop);
  EXPECT_FLOAT_EQ(tc.optimizer.lr, 0.1f);
  EXPECT_FLOAT_EQ(tc.optimizer.rms_decay, 0.95f);
  EXPECT_FLOAT_EQ(tc.optimizer.l2, 0.001f);
  EXPECT_EQ(tc.tbptt_fwd, 50);
  EXPECT_EQ(tc.tbptt_bwd, 50);
  NetworkConfig plain = cfg;
  plain.peepholes = false;
  EXPECT_EQ(ParamLayout::for_config(plain).total, 540659u);  // plain LSTM, v2/v3
}

TEST(Trainer, ScoreIsDl4jScore) {
  NetworkConfig cfg = test::small_config(5, 1, 6, true);
  TrainConfig tc = TrainConfig::melody_modeling_example();
  Trainer tr(Network(cfg, test::on_cpu()), tc);
  double sq = 0;
  for (const auto& t : tr.network().layout().tensors)
    if (t.is_weight)
      for (std::size_t k = 0; k < t.size(); ++k)
        sq += double(tr.network().params()[t.offset + k]) * tr.network().params()[t.offset + k];
  const auto b = test::random_batch(4, 3, 5, 8);
  const StepStats s = tr.train_batch(b.view());
  EXPECT_NEAR(s.score, (s.loss_sum + 0.5 * 0.001 * sq) / 3, 1e-9 * s.score);
}

TEST(Trainer, InvalidConfigsNameFieldAndValue) {
  auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  NetworkConfig c = test::small_config(5, 1, 4, true);
  c.hidden = 0;
  EXPECT_NE(message([&] { Network n(c); }).find("hidden must be in [1, 65536], got 0"),
            std::string::npos);
  c = test::small_config(1, 1, 4, true);
  EXPECT_NE(message([&] { c.validate(); }).find("vocab"), std::string::npos);
  ExecutionOptions e;
  e.threads = -1;
  EXPECT_NE(message([&] { e.validate(); }).find("threads"), std::string::npos);
  EXPECT_NE(message([] { (void)device_from_string("tpu"); }).find("\"tpu\""), std::string::npos);
  TrainConfig tc;
  tc.tbptt_fwd = 10;
  tc.tbptt_bwd = 20;
  EXPECT_NE(message([&] { tc.validate(); }).find("tbptt_bwd"), std::string::npos);
  // bad symbols and shapes at the boundary
  Trainer tr(Network(test::small_config(5, 1, 4, true), test::on_cpu()), TrainConfig{});
  auto b = test::random_batch(3, 2, 5, 1);
  b.inputs[4] = 5;
  EXPECT_NE(message([&] { tr.train_batch(b.view()); }).find("input symbol 5"), std::string::npos);
  b = test::random_batch(3, 2, 5, 1);
  Batch bad = b.view();
  bad.T = 4;
  EXPECT_NE(message([&] { tr.train_batch(bad); }).find("inputs must be [T,B]"), std::string::npos);
}

TEST(Trainer, ConfigJsonRoundTrips) {
  NetworkConfig c = test::small_config(17, 3, 21, false);
  c.forget_bias_init = 2.5f;
  c.seed = 1234567890123ull;
  const NetworkConfig d = NetworkConfig::from_json(c.to_json());
  EXPECT_TRUE(d.same_shape(c));
  EXPECT_EQ(d.seed, c.seed);
  EXPECT_EQ(d.forget_bias_init, c.forget_bias_init);
  TrainConfig t = TrainConfig::melody_modeling_example();
  t.optimizer.clip_norm = 5;
  const TrainConfig u = TrainConfig::from_json(t.to_json());
  EXPECT_EQ(u.to_json(), t.to_json());
  EXPECT_THROW(NetworkConfig::from_json("{\"vocab\": 3}"), InvalidArgument);
}

TEST(Trainer, InitFollowsDl4jXavier) {
  NetworkConfig c = test::small_config(60, 1, 200, true);
  c.forget_bias_init = 1.0f;
  Network net(c, test::on_cpu());
  const auto& ly = net.layout().layers[0];
  double sq = 0;
  const std::size_t n = static_cast<std::size_t>(60) * 800;
  for (std::size_t k = 0; k < n; ++k) sq += double(net.params()[ly.W + k]) * net.params()[ly.W + k];
  // std = sqrt(2/(fanIn + fanOut)) = sqrt(2/(200 + 260))
  EXPECT_NEAR(std::sqrt(sq / n), std::sqrt(2.0 / 460.0), 0.002);
  for (int j = 0; j < 800; ++j)
    EXPECT_EQ(net.params()[ly.b + j], (j >= 200 && j < 400) ? 1.0f : 0.0f) << j;
}

}  // namespace
}  // namespace melodl::lstm
