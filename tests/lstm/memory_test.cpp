// tests/lstm/memory_test.cpp: the up-front memory estimate and its check.
#include "lstm/memory.h"

#include <gtest/gtest.h>

#include <cstdint>

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
