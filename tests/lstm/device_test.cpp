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
  const Device expect = melodl::cuda::available() ? Device::cuda : Device::cpu;
  EXPECT_EQ(resolve_device(Device::automatic), expect);
  EXPECT_EQ(resolve_device(Device::cpu), Device::cpu);
  const NetworkConfig c = test::small_config(7, 2, 9, true);
  ExecutionOptions e;
  e.device = Device::automatic;
  Network a(c, e);
  EXPECT_EQ(a.device(), expect);
  EXPECT_EQ(a.execution().device, Device::automatic);
  e.device = Device::cpu;
  Network b(c, e);
  EXPECT_EQ(b.device(), Device::cpu);
  // same seed, same initial weights whatever the device
  EXPECT_TRUE(test::allclose(a.params(), b.params(), 0, 0));
}

TEST(Device, AutoWithoutDeviceTrainsExactlyLikeCpu) {
  if (melodl::cuda::available()) GTEST_SKIP() << "a CUDA device is usable: auto means cuda here";
  const NetworkConfig c = test::small_config(7, 2, 9, true);
  ExecutionOptions e = test::on_cpu(1);
  e.device = Device::automatic;
  Trainer ta(Network(c, e), TrainConfig{});
  Trainer tb(Network(c, test::on_cpu(1)), TrainConfig{});
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
  const NetworkConfig c = test::small_config(7, 1, 5, false);
  ExecutionOptions e;
  e.device = Device::cuda;
  EXPECT_NO_THROW(e.validate());  // the value is valid; the machine cannot run it
  const std::string reason = melodl::cuda::unavailable_reason();
  ASSERT_FALSE(reason.empty());
  const std::string msg = message_of([&] { Network n(c, e); });
  EXPECT_NE(msg.find("device \"cuda\""), std::string::npos) << msg;
  EXPECT_NE(msg.find(reason), std::string::npos) << msg;
  EXPECT_NE(message_of([] { (void)resolve_device(Device::cuda); }).find(reason), std::string::npos);
#ifndef MELODL_TEST_HAS_CUDA
  EXPECT_NE(msg.find("built without CUDA"), std::string::npos) << msg;
#endif
}

TEST(Device, ExecutionOptionsValidateAndRoundTrip) {
  EXPECT_NE(message_of([] { (void)device_from_string("gpu"); }).find("unknown device \"gpu\""),
            std::string::npos);
  EXPECT_NE(message_of([] { (void)cuda_math_from_string("fp16"); }).find("\"fp16\""),
            std::string::npos);
  for (Device d : {Device::cpu, Device::cuda, Device::automatic})
    EXPECT_EQ(device_from_string(to_string(d)), d);
  for (CudaMath m : {CudaMath::tf32, CudaMath::fp32, CudaMath::bf16})
    EXPECT_EQ(cuda_math_from_string(to_string(m)), m);
  ExecutionOptions e;
  e.cuda_wavefront = -1;
  EXPECT_NE(message_of([&] { e.validate(); }).find("cuda_wavefront"), std::string::npos);
  e.cuda_wavefront = 10;
  e.device = Device::automatic;
  e.cuda_math = CudaMath::fp32;
  e.cuda_persistent = true;
  e.threads = 3;
  const ExecutionOptions d = ExecutionOptions::from_json(e.to_json());
  EXPECT_EQ(d.device, Device::automatic);
  EXPECT_EQ(d.cuda_math, CudaMath::fp32);
  EXPECT_TRUE(d.cuda_persistent);
  EXPECT_FALSE(d.cuda_graphs);
  EXPECT_EQ(d.cuda_wavefront, 10);
  EXPECT_EQ(d.threads, 3);
  // missing keys read as the defaults (cpu / tf32)
  const ExecutionOptions old = ExecutionOptions::from_json(R"({"vocab":7,"layers":1})");
  EXPECT_EQ(old.device, Device::cpu);
  EXPECT_EQ(old.cuda_math, CudaMath::tf32);
  EXPECT_FALSE(old.cuda_persistent);
  EXPECT_THROW((void)ExecutionOptions::from_json(R"({"device":"gpu"})"), InvalidArgument);
}

TEST(Device, ModelConfigHoldsNoExecutionChoices) {
  // The model's JSON (what checkpoints hold) has no execution fields; a config written
  // before they moved out (device, threads, cuda_* inside) still reads.
  const NetworkConfig c = test::small_config(7, 1, 5, false);
  const std::string json = c.to_json();
  for (const char* key :
       {"device", "threads", "cuda_math", "cuda_persistent", "cuda_graphs", "cuda_wavefront"})
    EXPECT_EQ(json.find(std::string("\"") + key + "\""), std::string::npos) << key;
  const NetworkConfig old = NetworkConfig::from_json(
      R"({"vocab":7,"layers":1,"hidden":5,"peepholes":false,"forget_bias_init":1.0,"seed":3,)"
      R"("threads":1,"device":"cuda","cuda_math":"bf16","cuda_persistent":true,)"
      R"("cuda_graphs":true,"cuda_wavefront":4})");
  EXPECT_TRUE(old.same_shape(c));
  EXPECT_EQ(old.seed, 3u);
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
      const NetworkConfig nc = test::small_config(8, 2, 10, true);
      Trainer a(Network(nc, test::on_cpu(2)), optimizer_config(kind, clip));
      Trainer b(Network(nc, test::on_cpu(2)), optimizer_config(kind, clip));
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
  const NetworkConfig nc = test::small_config(8, 1, 10, true);
  Trainer t(Network(nc, test::on_cpu()), optimizer_config(OptimizerKind::adam, 0));
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
  const NetworkConfig nc = test::small_config(8, 1, 10, true);
  Trainer a(Network(nc, test::on_cpu()), optimizer_config(OptimizerKind::adam, 0));
  Trainer b(Network(nc, test::on_cpu()), optimizer_config(OptimizerKind::adam, 0));
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
  Trainer t(Network(test::small_config(8, 1, 10, true), test::on_cpu()), TrainConfig{});
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
