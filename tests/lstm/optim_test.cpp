// tests/lstm/optim_test.cpp: one or two optimiser steps against hand-computed values
// (SGD+momentum, Adam, RMSProp, DL4J-order RMSProp with post-apply L2 and /B), L2 only on
// weights, global-norm clipping, and config validation messages.
// Run: ctest --test-dir build -R Optim
#include <gtest/gtest.h>

#include <cmath>

#include "lstm/error.h"
#include "lstm/optim.h"

namespace melodl::lstm {
namespace {

// Two parameters: [0] a weight (L2 applies), [1] a bias.
const std::vector<std::uint8_t> kMask = {1, 0};

TEST(Optim, Dl4jRmsPropFollowsDl4jUpdateOrder) {
  OptimizerConfig c;
  c.kind = OptimizerKind::dl4j_rmsprop;
  c.lr = 0.1f;
  c.rms_decay = 0.95f;
  c.eps = 1e-8f;
  c.l2 = 0.01f;
  Optimizer opt(c, 2);
  EXPECT_FLOAT_EQ(opt.slots()[0][0], 1e-8f);              // DL4J initialises the cache to eps
  std::vector<float> w = {1.0f, 1.0f}, g = {2.0f, 2.0f};  // SUMMED gradient over 4 sequences
  opt.apply(w, g, kMask, /*count=*/100, /*sequences=*/4);
  // cache = 0.95*1e-8 + 0.05*2^2; u = 0.1*2/(sqrt(cache)+1e-8); weight: (u + 0.01*1)/4
  EXPECT_NEAR(w[0], 0.885696606280341, 1e-6);
  EXPECT_NEAR(w[1], 0.888196606280341, 1e-6);  // bias: no L2
}

TEST(Optim, StandardRmsPropUsesMeanGradientAndCoupledL2) {
  OptimizerConfig c;
  c.kind = OptimizerKind::rmsprop;
  c.lr = 0.1f;
  c.rms_decay = 0.95f;
  c.l2 = 0.01f;
  Optimizer opt(c, 2);
  std::vector<float> w = {1.0f, 1.0f}, g = {2.0f, 2.0f};
  opt.apply(w, g, kMask, /*count=*/2, /*sequences=*/1);
  // g = 2/2 + 0.01*1 = 1.01; s = 0.05*1.01^2; w = 1 - 0.1*1.01/(sqrt(s)+1e-8)
  EXPECT_NEAR(w[0], 0.5527864243020213, 1e-5);
  // bias: g = 1, s = 0.05, w = 1 - 0.1/sqrt(0.05)
  EXPECT_NEAR(w[1], 1.0 - 0.1 / std::sqrt(0.05), 1e-5);
}

TEST(Optim, AdamBiasCorrectedStepsAreLr) {
  OptimizerConfig c;
  c.kind = OptimizerKind::adam;
  c.lr = 0.01f;
  Optimizer opt(c, 2);
  std::vector<float> w = {1.0f, 1.0f};
  for (int k = 1; k <= 2; ++k) {
    std::vector<float> g = {0.5f, -0.5f};
    opt.apply(w, g, kMask, 1, 1);
    // constant gradient: m_hat = g, v_hat = g^2, so each step moves lr * sign(g)
    EXPECT_NEAR(w[0], 1.0 - 0.01 * k, 1e-6);
    EXPECT_NEAR(w[1], 1.0 + 0.01 * k, 1e-6);
  }
  EXPECT_EQ(opt.steps(), 2);
}

TEST(Optim, SgdMomentum) {
  OptimizerConfig c;
  c.kind = OptimizerKind::sgd;
  c.lr = 0.1f;
  c.momentum = 0.9f;
  Optimizer opt(c, 2);
  std::vector<float> w = {1.0f, 1.0f};
  std::vector<float> g = {1.0f, 1.0f};
  opt.apply(w, g, kMask, 1, 1);
  EXPECT_NEAR(w[0], 0.9, 1e-6);  // v = 1
  g = {1.0f, 1.0f};
  opt.apply(w, g, kMask, 1, 1);
  EXPECT_NEAR(w[0], 0.71, 1e-6);  // v = 0.9 + 1
}

TEST(Optim, GlobalNormClipping) {
  OptimizerConfig c;
  c.kind = OptimizerKind::sgd;
  c.lr = 1.0f;
  c.momentum = 0.0f;
  c.clip_norm = 1.0f;
  Optimizer opt(c, 2);
  std::vector<float> w = {0.0f, 0.0f}, g = {3.0f, 4.0f};
  const double norm = opt.apply(w, g, kMask, 1, 1);
  EXPECT_DOUBLE_EQ(norm, 5.0);
  EXPECT_NEAR(w[0], -0.6, 1e-6);
  EXPECT_NEAR(w[1], -0.8, 1e-6);
  // below the threshold: untouched
  w = {0.0f, 0.0f};
  g = {0.3f, 0.4f};
  opt.apply(w, g, kMask, 1, 1);
  EXPECT_NEAR(w[0], -0.3, 1e-6);
}

TEST(Optim, ValidationNamesFieldAndValue) {
  OptimizerConfig c;
  c.lr = -1;
  try {
    c.validate();
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("lr"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("-1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(optimizer_kind_from_string("adamw"), InvalidArgument);
  EXPECT_EQ(optimizer_kind_from_string("dl4j_rmsprop"), OptimizerKind::dl4j_rmsprop);
}

}  // namespace
}  // namespace melodl::lstm
