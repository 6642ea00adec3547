// tests/kernels/optim_ref_test.cpp: the optimiser reference against values computed by
// hand from the update rules in kernels/optim.h (DL4J RMSProp order, standard RMSProp,
// Adam, SGD with momentum, l2 masking, global-norm clipping, decoupled weight decay), and the
// dropout-mask product.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/dropout.h"
#include "kernels/optim.h"

namespace melodl {
namespace {

TEST(OptimRef, RmsPropDl4jOrder) {
  // Element 0 is a weight (l2 applies), element 1 a bias. w = 1, g = 2, cache = 0.
  double w[2] = {1, 1}, g[2] = {2, 2}, v[2] = {0, 0};
  const uint8_t mask[2] = {1, 0};
  OptimArgsT<double> a;
  a.kind = OptimKind::kRmsPropDl4j;
  a.n = 2;
  a.w = w;
  a.g = g;
  a.v = v;
  a.l2_mask = mask;
  a.lr = 0.1;
  a.l2 = 0.001;
  a.rho = 0.95;
  a.eps = 1e-8;
  a.minibatch = 32;
  ref::optim_step(a);
  // cache = 0.05*4 = 0.2; u = 0.1*2/(sqrt(0.2)+1e-8); u += 0.001*w (weight only); u /= 32
  EXPECT_NEAR(v[0], 0.2, 1e-15);  // (1-0.95) is not exactly 0.05 in binary
  EXPECT_NEAR(w[0], 1 - (0.2 / (std::sqrt(0.2) + 1e-8) + 0.001) / 32, 1e-15);
  EXPECT_NEAR(w[1], 1 - (0.2 / (std::sqrt(0.2) + 1e-8)) / 32, 1e-15);
  EXPECT_NEAR(w[0], 0.98599332546, 1e-10);  // the same number, evaluated by hand
}

TEST(OptimRef, RmsPropStandard) {
  double w = 1, g = 1, v = 1;
  OptimArgsT<double> a;
  a.kind = OptimKind::kRmsProp;
  a.n = 1;
  a.w = &w;
  a.g = &g;
  a.v = &v;
  a.lr = 0.01;
  a.rho = 0.9;
  a.l2 = 0.5;  // g'' = 1 + 0.5*1 = 1.5; v = 0.9 + 0.1*2.25 = 1.125
  ref::optim_step(a);
  EXPECT_NEAR(v, 1.125, 1e-15);
  EXPECT_NEAR(w, 1 - 0.01 * 1.5 / (std::sqrt(1.125) + 1e-8), 1e-15);
}

TEST(OptimRef, AdamFirstAndSecondStep) {
  double w = 1, g = 0.5, m = 0, v = 0;
  OptimArgsT<double> a;
  a.kind = OptimKind::kAdam;
  a.n = 1;
  a.w = &w;
  a.g = &g;
  a.m = &m;
  a.v = &v;
  a.lr = 0.01;
  a.step = 1;
  ref::optim_step(a);
  // m = 0.05, v = 0.00025; mhat = 0.5, vhat = 0.25: w = 1 - 0.01*0.5/(0.5+1e-8)
  EXPECT_NEAR(m, 0.05, 1e-16);
  EXPECT_NEAR(v, 0.00025, 1e-18);
  EXPECT_NEAR(w, 1 - 0.01 * 0.5 / (0.5 + 1e-8), 1e-15);
  a.step = 2;
  g = -1;
  const double w1 = w;
  ref::optim_step(a);
  // m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975
  EXPECT_NEAR(m, -0.055, 1e-15);
  EXPECT_NEAR(v, 0.00124975, 1e-15);
  const double mhat = -0.055 / (1 - 0.81), vhat = 0.00124975 / (1 - 0.998001);
  EXPECT_NEAR(w, w1 - 0.01 * mhat / (std::sqrt(vhat) + 1e-8), 1e-14);
}

TEST(OptimRef, SgdMomentumWithL2) {
  double w = 2, g = 0.5, m = 1;
  OptimArgsT<double> a;
  a.kind = OptimKind::kSgdMomentum;
  a.n = 1;
  a.w = &w;
  a.g = &g;
  a.m = &m;
  a.lr = 0.1;
  a.l2 = 0.1;
  a.momentum = 0.9;
  ref::optim_step(a);  // g'' = 0.5 + 0.2 = 0.7; m = 0.9 + 0.7 = 1.6; w = 2 - 0.16
  EXPECT_NEAR(m, 1.6, 1e-15);
  EXPECT_NEAR(w, 1.84, 1e-15);
}

TEST(OptimRef, GlobalNormClipping) {
  double w[2] = {0, 0}, g[2] = {3, 4}, norm = -1;
  OptimArgsT<double> a;
  a.kind = OptimKind::kSgdMomentum;
  a.momentum = 0;
  a.n = 2;
  a.w = w;
  a.g = g;
  a.lr = 1;
  a.clip_norm = 1;
  a.norm_out = &norm;
  ref::optim_step(a);  // norm 5 > 1: g scaled to (0.6, 0.8)
  EXPECT_DOUBLE_EQ(norm, 5);
  EXPECT_NEAR(w[0], -0.6, 1e-15);
  EXPECT_NEAR(w[1], -0.8, 1e-15);
  a.clip_norm = 10;    // inactive
  a.grad_scale = 0.5;  // norm of (1.5, 2) = 2.5
  ref::optim_step(a);
  EXPECT_DOUBLE_EQ(norm, 2.5);
  EXPECT_NEAR(w[0], -0.6 - 1.5, 1e-15);
  EXPECT_NEAR(w[1], -0.8 - 2.0, 1e-15);
}

TEST(OptimRef, AdamWDecaysWeightsOnlyBeforeTheRule) {
  // Element 0 a weight, element 1 a bias; w = 1, g = 0.5, first Adam step, lr 0.1, wd 0.5.
  double w[2] = {1, 1}, g[2] = {0.5, 0.5}, m[2] = {0, 0}, v[2] = {0, 0};
  const uint8_t mask[2] = {1, 0};
  OptimArgsT<double> a;
  a.kind = OptimKind::kAdam;
  a.n = 2;
  a.w = w;
  a.g = g;
  a.m = m;
  a.v = v;
  a.l2_mask = mask;
  a.lr = 0.1;
  a.weight_decay = 0.5;
  ref::optim_step(a);
  // decay: 1*(1 - 0.05) = 0.95; Adam's first step moves by lr*g/(|g|+eps) ~ 0.1
  EXPECT_NEAR(w[0], 0.95 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-12);
  EXPECT_NEAR(w[1], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-12);
  EXPECT_NEAR(m[0], 0.05, 1e-15);  // the moments see g only
}

TEST(DropoutRef, ApplyMaskMultipliesAndWorksInPlace) {
  float x[4] = {1, -2, 3, 4};
  const float mask[4] = {0, 2, 2, 0};
  float out[4];
  ref::apply_mask(x, mask, out, 4);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], -4.0f);
  EXPECT_EQ(out[2], 6.0f);
  EXPECT_EQ(out[3], 0.0f);
  ref::apply_mask(x, mask, x, 4);
  EXPECT_EQ(x[1], -4.0f);
}

TEST(OptimRef, RejectsMissingState) {
  double w = 0, g = 0;
  OptimArgsT<double> a;
  a.kind = OptimKind::kAdam;
  a.n = 1;
  a.w = &w;
  a.g = &g;
  EXPECT_THROW(ref::optim_step(a), cuda::InvalidArgument);
}

}  // namespace
}  // namespace melodl
