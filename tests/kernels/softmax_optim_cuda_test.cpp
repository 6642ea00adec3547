// tests/kernels/softmax_optim_cuda_test.cpp: fused softmax-xent and the fused optimiser step
// against their double references (same float-rounded inputs), masking, NaN on a bad
// target, dlogits aliasing logits, clipping, bitwise determinism. Skips without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <tuple>

#include "kernels/dropout.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "kernels/softmax_xent.h"
#include "tests/kernels/cuda_test_util.h"

namespace melodl {
namespace {

using test::as_float;
using test::cast;
using test::expect_allclose;
using test::to_device;
using test::uniform;

// ---- softmax cross-entropy --------------------------------------------------------------
void check_softmax(int64_t N, int V) {
  SCOPED_TRACE(testing::Message() << "N=" << N << " V=" << V);
  const auto z = as_float(uniform(size_t(N) * V, 71, -4, 4));
  const auto t = test::uniform_int(size_t(N), 72, 0, V - 1);
  std::vector<double> w = as_float(uniform(size_t(N), 73, 0, 2));
  for (int64_t n = 0; n < N; n += 5) w[size_t(n)] = 0;  // masked rows
  std::vector<double> rows(static_cast<size_t>(N)), d(size_t(N) * V);
  double sum = 0;
  SoftmaxXentArgsT<double> r;
  r.N = N;
  r.V = V;
  r.logits = z.data();
  r.targets = t.data();
  r.weights = w.data();
  r.loss_rows = rows.data();
  r.dlogits = d.data();
  r.loss_sum = &sum;
  ref::softmax_xent(r);

  cuda::DeviceContext dc;
  auto d_z = to_device(cast<float>(z)), d_w = to_device(cast<float>(w));
  auto d_t = to_device(t);
  cuda::DeviceBuffer<float> d_rows(static_cast<size_t>(N)), d_d(size_t(N) * V), d_sum(1),
      ws(size_t(cuda::kSumWorkspaceFloats));
  SoftmaxXentArgs a;
  a.N = N;
  a.V = V;
  a.logits = d_z.get();
  a.targets = d_t.get();
  a.weights = d_w.get();
  a.loss_rows = d_rows.get();
  a.dlogits = d_d.get();
  a.loss_sum = d_sum.get();
  a.workspace = ws.get();
  cuda::softmax_xent(a, dc.exec());
  dc.synchronize();
  const auto g_rows = d_rows.download(), g_d = d_d.download();
  const float g_sum = d_sum.download()[0];
  expect_allclose(g_rows, rows, 1e-5, 1e-4, "loss_rows", {N});
  expect_allclose(g_d, d, 1e-6, 1e-4, "dlogits", {N, V});
  EXPECT_NEAR(g_sum, sum, 1e-5 * std::abs(sum) + 1e-5);
  EXPECT_GT(test::norm2(g_d), 0.0);
  // determinism, and in place (dlogits == logits) gives the same gradient
  a.dlogits = d_z.get();
  cuda::softmax_xent(a, dc.exec());
  dc.synchronize();
  EXPECT_EQ(d_rows.download(), g_rows);
  EXPECT_EQ(d_sum.download()[0], g_sum);
  EXPECT_EQ(d_z.download(), g_d);
}

class MiscCuda : public test::CudaTest {};

TEST_F(MiscCuda, SoftmaxXentMatchesReference) {
  const std::pair<int64_t, int> cases[] = {{1, 1}, {7, 59}, {1600, 80}, {37, 1000}};
  for (const auto& [N, V] : cases) check_softmax(N, V);
}

TEST_F(MiscCuda, SoftmaxBadTargetGivesNaN) {
  cuda::DeviceContext dc;
  auto d_z = to_device(std::vector<float>{0, 0, 0, 0});
  auto d_t = to_device(std::vector<int32_t>{2, 0});  // V = 2: row 0 is out of range
  cuda::DeviceBuffer<float> rows(2);
  SoftmaxXentArgs a;
  a.N = 2;
  a.V = 2;
  a.logits = d_z.get();
  a.targets = d_t.get();
  a.loss_rows = rows.get();
  cuda::softmax_xent(a, dc.exec());
  dc.synchronize();
  const auto r = rows.download();
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_NEAR(r[1], std::log(2.0), 1e-6);
}

// ---- optimiser --------------------------------------------------------------------------
void check_optim(OptimKind kind, int64_t n, bool clip, double weight_decay = 0) {
  SCOPED_TRACE(testing::Message() << "kind=" << static_cast<int>(kind) << " n=" << n
                                  << " clip=" << clip << " weight_decay=" << weight_decay);
  const size_t N = size_t(n);
  auto w = as_float(uniform(N, 81)), g = as_float(uniform(N, 82)), m = as_float(uniform(N, 83));
  auto v = as_float(uniform(N, 84, 0.01, 1));
  std::vector<uint8_t> mask(N);
  for (size_t k = 0; k < N; ++k) mask[k] = (k % 7) != 0;
  OptimArgsT<double> r;
  r.kind = kind;
  r.n = n;
  r.l2_mask = mask.data();
  r.lr = 0.01;
  r.l2 = 0.001;
  r.weight_decay = weight_decay;
  r.step = 3;
  r.minibatch = 32;
  r.clip_norm = clip ? 0.5 * std::sqrt(double(n)) * 0.5 : 0;  // ~ half the expected norm
  double norm = 0;
  r.norm_out = &norm;
  auto rw = w, rm = m, rv = v;
  r.w = rw.data();
  r.g = g.data();
  r.m = rm.data();
  r.v = rv.data();
  ref::optim_step(r);

  cuda::DeviceContext dc;
  auto d_w = to_device(cast<float>(w)), d_g = to_device(cast<float>(g)),
       d_m = to_device(cast<float>(m)), d_v = to_device(cast<float>(v));
  auto d_mask = to_device(mask);
  cuda::DeviceBuffer<float> d_norm(1), ws(size_t(cuda::kSumWorkspaceFloats) + 1);
  OptimArgs a;
  a.kind = kind;
  a.n = n;
  a.l2_mask = d_mask.get();
  a.lr = 0.01f;
  a.l2 = 0.001f;
  a.weight_decay = static_cast<float>(weight_decay);
  a.step = 3;
  a.minibatch = 32;
  a.clip_norm = static_cast<float>(r.clip_norm);
  a.norm_out = d_norm.get();
  a.workspace = ws.get();
  a.w = d_w.get();
  a.g = d_g.get();
  a.m = d_m.get();
  a.v = d_v.get();
  cuda::optim_step(a, dc.exec());
  dc.synchronize();
  // Elementwise fp32 math on the same inputs: a few ulp of |w| (<= 1) plus the update.
  expect_allclose(d_w.download(), rw, 1e-6, 1e-5, "w", {n});
  if (kind != OptimKind::kSgdMomentum) expect_allclose(d_v.download(), rv, 1e-7, 1e-5, "v", {n});
  if (kind == OptimKind::kAdam || kind == OptimKind::kSgdMomentum)
    expect_allclose(d_m.download(), rm, 1e-6, 1e-5, "m", {n});
  EXPECT_NEAR(d_norm.download()[0], norm, 1e-5 * norm);
}

class OptimCuda : public test::CudaParamTest<OptimKind> {};

TEST_P(OptimCuda, MatchesReference) {
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{541859}})
    for (bool clip : {false, true}) check_optim(GetParam(), n, clip);
  check_optim(GetParam(), 1000, true, 0.5);  // decoupled weight decay (AdamW)
}

std::string optim_kind_name(const ::testing::TestParamInfo<OptimKind>& info) {
  static const char* const kNames[] = {"sgd", "rmsprop_dl4j", "rmsprop", "adam"};
  return kNames[static_cast<int>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(Kinds, OptimCuda,
                         ::testing::Values(OptimKind::kSgdMomentum, OptimKind::kRmsPropDl4j,
                                           OptimKind::kRmsProp, OptimKind::kAdam),
                         optim_kind_name);

// The dropout-mask product is one float multiply: exact, also in place.
TEST_F(MiscCuda, ApplyMaskMatchesReferenceExactly) {
  const int64_t n = 100003;
  const size_t un = static_cast<size_t>(n);
  const auto x = cast<float>(uniform(un, 95));
  std::vector<float> mask(un);
  for (size_t k = 0; k < mask.size(); ++k) mask[k] = k % 3 == 0 ? 0.0f : 1.0f / 0.7f;
  std::vector<float> want(un);
  ref::apply_mask(x.data(), mask.data(), want.data(), n);
  cuda::DeviceContext dc;
  auto d_x = to_device(x), d_m = to_device(mask);
  cuda::DeviceBuffer<float> d_out(un);
  cuda::apply_mask(d_x.get(), d_m.get(), d_out.get(), n, dc.exec());
  cuda::apply_mask(d_x.get(), d_m.get(), d_x.get(), n, dc.exec());  // in place
  dc.synchronize();
  EXPECT_EQ(d_out.download(), want);
  EXPECT_EQ(d_x.download(), want);
}

TEST_F(MiscCuda, OptimIsDeterministic) {
  const size_t N = 100000;
  const auto w = cast<float>(uniform(N, 91)), g = cast<float>(uniform(N, 92));
  const auto v = cast<float>(uniform(N, 93, 0.1, 1));
  cuda::DeviceContext dc;
  std::vector<float> result[2];
  for (int r = 0; r < 2; ++r) {
    auto d_w = to_device(w), d_g = to_device(g), d_v = to_device(v);
    cuda::DeviceBuffer<float> ws(size_t(cuda::kSumWorkspaceFloats) + 1);
    OptimArgs a;
    a.kind = OptimKind::kRmsPropDl4j;
    a.n = int64_t(N);
    a.w = d_w.get();
    a.g = d_g.get();
    a.v = d_v.get();
    a.clip_norm = 10;
    a.workspace = ws.get();
    cuda::optim_step(a, dc.exec());
    dc.synchronize();
    result[r] = d_w.download();
  }
  EXPECT_EQ(result[0], result[1]);
}

}  // namespace
}  // namespace melodl
