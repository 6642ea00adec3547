// tests/lstm/device_test.cpp: the device choice of melodl::lstm on any machine (label cpu):
// "auto" resolves to the CPU when no CUDA device is usable and then behaves exactly like
// "cpu"; "cuda" without a usable device fails with the probe's reason ("built without CUDA"
// in a CPU-only build); config fields validate and round-trip through JSON; and
// Trainer::apply_update / parameters_finite / mutable_gradients on the CPU backend.
// Run: ctest --test-dir build -R Device
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "kernels/runtime.h"
#include "lstm_test_util.h"

namespace melodl::lstm {
namespace {

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "no exception";
}

TEST(Device, AutoResolvesToCudaOnlyWhenUsable) {
  const std::string expect = melodl::cuda::available() ? "cuda" : "cpu";
  EXPECT_EQ(resolve_device("auto"), expect);
  EXPECT_EQ(resolve_device("cpu"), "cpu");
  NetworkConfig c = test::small_config(7, 2, 9, true);
  c.device = "auto";
  Network a(c);
  EXPECT_EQ(a.device(), expect);
  c.device = "cpu";
  Network b(c);
  EXPECT_EQ(b.device(), "cpu");
  // same seed, same initial weights whatever the device
  EXPECT_TRUE(test::allclose(a.params(), b.params(), 0, 0));
}

TEST(Device, AutoWithoutDeviceTrainsExactlyLikeCpu) {
  if (melodl::cuda::available()) GTEST_SKIP() << "a CUDA device is usable: auto means cuda here";
  NetworkConfig c = test::small_config(7, 2, 9, true, 1);
  c.device = "auto";
  NetworkConfig d = c;
  d.device = "cpu";
  Trainer ta(Network(c), TrainConfig{});
  Trainer tb(Network(d), TrainConfig{});
  for (int k = 0; k < 3; ++k) {
    const auto batch = test::random_batch(12, 3, 7, 100 + k);
    const StepStats sa = ta.train_batch(batch.view());
    const StepStats sb = tb.train_batch(batch.view());
    EXPECT_EQ(sa.loss_sum, sb.loss_sum);
  }
  EXPECT_TRUE(test::allclose(ta.network().params(), tb.network().params(), 0, 0));
}

TEST(Device, CudaWithoutDeviceNamesTheReason) {
  if (melodl::cuda::available()) GTEST_SKIP() << "a CUDA device is usable";
  NetworkConfig c = test::small_config(7, 1, 5, false);
  c.device = "cuda";
  EXPECT_NO_THROW(c.validate());  // the value is valid; the machine cannot run it
  const std::string reason = melodl::cuda::unavailable_reason();
  ASSERT_FALSE(reason.empty());
  const std::string msg = message_of([&] { Network n(c); });
  EXPECT_NE(msg.find("device \"cuda\""), std::string::npos) << msg;
  EXPECT_NE(msg.find(reason), std::string::npos) << msg;
  EXPECT_NE(message_of([] { (void)resolve_device("cuda"); }).find(reason), std::string::npos);
#ifndef MELODL_TEST_HAS_CUDA
  EXPECT_NE(msg.find("built without CUDA"), std::string::npos) << msg;
#endif
}

TEST(Device, ConfigFieldsValidateAndRoundTrip) {
  NetworkConfig c = test::small_config(7, 1, 5, false);
  c.device = "gpu";
  EXPECT_NE(message_of([&] { c.validate(); }).find("device must be \"cpu\", \"cuda\" or \"auto\""),
            std::string::npos);
  EXPECT_NE(message_of([] { (void)resolve_device("gpu"); }).find("unknown device \"gpu\""),
            std::string::npos);
  c.device = "auto";
  c.cuda_math = "fp16";
  EXPECT_NE(message_of([&] { c.validate(); }).find("cuda_math"), std::string::npos);
  c.cuda_math = "fp32";
  c.cuda_persistent = true;
  const NetworkConfig d = NetworkConfig::from_json(c.to_json());
  EXPECT_EQ(d.device, "auto");
  EXPECT_EQ(d.cuda_math, "fp32");
  EXPECT_TRUE(d.cuda_persistent);
  // configs written before these fields existed read as cpu / tf32
  const NetworkConfig old = NetworkConfig::from_json(
      R"({"vocab":7,"layers":1,"hidden":5,"peepholes":false,"forget_bias_init":1.0,"seed":3})");
  EXPECT_EQ(old.device, "cpu");
  EXPECT_EQ(old.cuda_math, "tf32");
  EXPECT_FALSE(old.cuda_persistent);
}

TrainConfig optimizer_config(OptimizerKind kind, float clip) {
  TrainConfig tc;
  tc.optimizer.kind = kind;
  tc.optimizer.lr = kind == OptimizerKind::dl4j_rmsprop ? 0.1f : 0.01f;
  tc.optimizer.l2 = 0.001f;
  tc.optimizer.clip_norm = clip;
  tc.tbptt_fwd = 6;
  tc.tbptt_bwd = 6;
  return tc;
}

// apply_update must be Optimizer::apply on a copy of the gradient: after
// compute_gradients + apply_update the parameters, slots and norm equal train_segment's
// bitwise, and gradients() still holds the summed gradient.
TEST(ApplyUpdate, EqualsTrainSegmentBitwiseForEveryOptimizer) {
  for (auto kind : {OptimizerKind::sgd, OptimizerKind::adam, OptimizerKind::rmsprop,
                    OptimizerKind::dl4j_rmsprop}) {
    for (float clip : {0.0f, 0.5f}) {
      const NetworkConfig nc = test::small_config(8, 2, 10, true, 2);
      Trainer a(Network(nc), optimizer_config(kind, clip));
      Trainer b(Network(nc), optimizer_config(kind, clip));
      State sa = a.network().zero_state(3), sb = b.network().zero_state(3);
      for (int k = 0; k < 4; ++k) {
        const auto seg = test::random_batch(6, 3, 8, 40 + k, /*with_mask=*/k % 2 == 1);
        const StepStats s1 = a.train_segment(seg.view(), sa);
        const StepStats s2 = b.compute_gradients(seg.view(), sb, 6);
        const std::vector<float> g(b.gradients().begin(), b.gradients().end());
        const UpdateReport r = b.apply_update(s2, 3);
        EXPECT_TRUE(r.applied && r.finite_loss && r.finite_gradient);
        EXPECT_EQ(r.grad_norm, s1.grad_norm) << to_string(kind) << " clip " << clip;
        EXPECT_EQ(s1.loss_sum, s2.loss_sum);
        EXPECT_TRUE(test::allclose(b.gradients(), g, 0, 0)) << "gradient changed";
      }
      EXPECT_TRUE(test::allclose(a.network().params(), b.network().params(), 0, 0))
          << to_string(kind) << " clip " << clip;
      EXPECT_EQ(a.optimizer().slots(), b.optimizer().slots());
      EXPECT_EQ(a.step_count(), 4);
      EXPECT_EQ(b.step_count(), 4);
    }
  }
}

TEST(ApplyUpdate, SkipsNonFiniteLossOrGradientAndEmptyWindows) {
  const NetworkConfig nc = test::small_config(8, 1, 10, true, 1);
  Trainer t(Network(nc), optimizer_config(OptimizerKind::adam, 0));
  const std::vector<float> before(t.network().params().begin(), t.network().params().end());
  State s = t.network().zero_state(2);
  const auto seg = test::random_batch(5, 2, 8, 9);

  StepStats st = t.compute_gradients(seg.view(), s, 0);
  t.mutable_gradients()[3] = std::numeric_limits<float>::quiet_NaN();
  UpdateReport r = t.apply_update(st, 2);
  EXPECT_FALSE(r.applied);
  EXPECT_TRUE(r.finite_loss);
  EXPECT_FALSE(r.finite_gradient);
  EXPECT_FALSE(std::isfinite(r.grad_norm));

  st = t.compute_gradients(seg.view(), s, 0);
  StepStats bad = st;
  bad.loss_sum = std::numeric_limits<double>::infinity();
  r = t.apply_update(bad, 2);
  EXPECT_FALSE(r.applied);
  EXPECT_FALSE(r.finite_loss);
  EXPECT_TRUE(r.finite_gradient);
  EXPECT_GT(r.grad_norm, 0);

  StepStats empty = st;
  empty.count = 0;
  EXPECT_FALSE(t.apply_update(empty, 2).applied);

  EXPECT_EQ(t.step_count(), 0);
  EXPECT_TRUE(test::allclose(t.network().params(), before, 0, 0));
  EXPECT_TRUE(t.parameters_finite());

  r = t.apply_update(st, 2);
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(t.step_count(), 1);
  // the mean gradient's norm (adam): ||g|| / count
  double sq = 0;
  for (float g : t.gradients()) sq += double(g) * g;
  EXPECT_NEAR(r.grad_norm, std::sqrt(sq) / st.count, 1e-6 * r.grad_norm);
  EXPECT_FALSE(test::allclose(t.network().params(), before, 0, 0));

  t.network().params()[5] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(t.parameters_finite());
}

TEST(ApplyUpdate, SetLearningRateActsOnTheNextUpdate) {
  const NetworkConfig nc = test::small_config(8, 1, 10, true, 1);
  Trainer a(Network(nc), optimizer_config(OptimizerKind::adam, 0));
  Trainer b(Network(nc), optimizer_config(OptimizerKind::adam, 0));
  a.set_learning_rate(0.05f);
  b.optimizer().set_lr(0.05f);
  EXPECT_EQ(a.optimizer().config().lr, 0.05f);
  const auto batch = test::random_batch(6, 2, 8, 3);
  a.train_batch(batch.view());
  b.train_batch(batch.view());
  EXPECT_TRUE(test::allclose(a.network().params(), b.network().params(), 0, 0));
  EXPECT_THROW(a.set_learning_rate(0.0f), InvalidArgument);
}

TEST(ApplyUpdate, RejectsMissingGradientAndBadMinibatch) {
  Trainer t(Network(test::small_config(8, 1, 10, true, 1)), TrainConfig{});
  StepStats st;
  st.count = 4;
  EXPECT_NE(message_of([&] { t.apply_update(st, 2); }).find("call compute_gradients first"),
            std::string::npos);
  State s = t.network().zero_state(2);
  st = t.compute_gradients(test::random_batch(4, 2, 8, 1).view(), s, 0);
  EXPECT_NE(message_of([&] { t.apply_update(st, 0); }).find("sequences must be >= 1"),
            std::string::npos);
}

}  // namespace
}  // namespace melodl::lstm
