// tests/lstm/memory_test.cpp: the up-front memory and update-time estimates and their checks.
#include "lstm/memory.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "lstm/cost.h"
#include "lstm/error.h"
#include "lstm/network.h"

using namespace melodl::lstm;

TEST(MemoryEstimate, ParametersMatchTheLayout) {
  for (bool peep : {true, false}) {
    NetworkConfig net;
    net.vocab = 60;
    net.layers = 3;
    net.hidden = 37;
    net.peepholes = peep;
    const auto e = estimate_sampling_memory(net, 1);
    EXPECT_EQ(e.parameters, ParamLayout::for_config(net).total * sizeof(float));
  }
}

TEST(MemoryEstimate, TrainingGrowsWithBatchSegmentAndOptimizer) {
  NetworkConfig net;
  net.vocab = 60;
  net.hidden = 200;
  TrainConfig train;
  train.tbptt_fwd = 50;
  const auto a = estimate_training_memory(net, train, 32);
  const auto b = estimate_training_memory(net, train, 64);
  EXPECT_EQ(b.activations, 2 * a.activations);
  train.tbptt_fwd = 100;
  EXPECT_EQ(estimate_training_memory(net, train, 32).activations, 2 * a.activations);
  // Adam keeps two slots, SGD with momentum one: gradients + slots.
  EXPECT_EQ(a.training, 3 * a.parameters);
  train.optimizer.kind = OptimizerKind::sgd;
  EXPECT_EQ(estimate_training_memory(net, train, 32).training, 2 * a.parameters);
  // Whole sequences (segment 0) take the longest sequence's length.
  train.tbptt_fwd = 0;
  EXPECT_EQ(estimate_training_memory(net, train, 32, 50).activations, a.activations);
}

TEST(MemoryEstimate, AbsurdShapesSaturateInsteadOfWrapping) {
  NetworkConfig net;
  net.vocab = 1'000'000;
  net.hidden = 2'000'000'000;
  net.layers = 1'000'000;
  const auto e = estimate_training_memory(net, TrainConfig{}, 1'000'000);
  EXPECT_GT(e.total(), std::uint64_t{1} << 50);
}

TEST(CheckMemory, RefusesWithTheNumbersAndAcceptsWhatFits) {
  NetworkConfig net;
  net.vocab = 60;
  net.hidden = 8000;
  TrainConfig train;
  const auto need = estimate_training_memory(net, train, 32);
  EXPECT_GT(need.total(), std::uint64_t{4} << 30);  // hidden 8000: gigabytes of weights alone
  try {
    check_memory(need, "training", std::uint64_t{1} << 30);
    FAIL() << "expected a refusal";
  } catch (const InvalidArgument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("training needs about"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1.0 GiB"), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(check_memory(need, "training", need.total()));
}

TEST(CheckMemory, AvailableMemoryIsReadOnLinux) {
  const auto avail = available_memory_bytes();
  ASSERT_TRUE(avail.has_value());
  EXPECT_GT(*avail, std::uint64_t{16} << 20);
}

TEST(FormatBytes, Units) {
  EXPECT_EQ(format_bytes(512), "512 bytes");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(std::uint64_t{300} << 20), "300 MiB");
}

// lstm/cost.h: the FLOPs of one update and the refusal of a budget shorter than one update.
TEST(UpdateCost, FlopsFollowTheDesignFormula) {
  NetworkConfig net;
  net.vocab = 60;
  net.layers = 2;
  net.hidden = 200;
  TrainConfig train;
  train.tbptt_fwd = 50;
  // 2 x 200: 24 H^2 per layer, 24 H^2 for layer 1's dense input, 6 H V for the output.
  const double per_symbol = 3 * 24.0 * 200 * 200 + 6.0 * 200 * 60;
  EXPECT_DOUBLE_EQ(train_flops_per_symbol(2, 200, 60), per_symbol);
  EXPECT_DOUBLE_EQ(training_update_flops(net, train, 32), 50 * 32 * per_symbol);
  train.tbptt_fwd = 0;  // whole sequences: the given length
  EXPECT_DOUBLE_EQ(training_update_flops(net, train, 32, 500), 500 * 32 * per_symbol);
  EXPECT_DOUBLE_EQ(infer_flops_per_symbol(2, 200, 60), 3 * 8.0 * 200 * 200 + 2.0 * 200 * 60);
}

TEST(UpdateCost, SecondsAndTheirFormat) {
  EXPECT_DOUBLE_EQ(update_seconds(7.4e12, 1e11), 74.0);
  EXPECT_EQ(update_seconds(1e9, 0.0), 0.0);  // no rate: unknown
  EXPECT_EQ(format_seconds(74), "74 s");
  EXPECT_EQ(format_seconds(300), "5 min");
  EXPECT_EQ(format_seconds(7200), "2 h");
}

TEST(UpdateCost, ProbeMeasuresAPlausibleRate) {
  // Any CPU this backend runs on multiplies faster than 0.1 GFLOP/s and slower than
  // 10 TFLOP/s per thread; two threads count twice.
  const double one = measure_cpu_flops(1);
  EXPECT_GT(one, 1e8);
  EXPECT_LT(one, 1e13);
}
