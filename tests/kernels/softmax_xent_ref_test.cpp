// tests/kernels/softmax_xent_ref_test.cpp: the softmax cross-entropy reference: known
// values, masking, argument checks, and dlogits against finite differences of loss_sum.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/softmax_xent.h"
#include "tests/kernels/test_util.h"

namespace melodl {
namespace {

SoftmaxXentArgsT<double> args(int64_t N, int V, const std::vector<double>& z,
                              const std::vector<int32_t>& t, const std::vector<double>* w,
                              std::vector<double>& rows, std::vector<double>* d, double* sum) {
  rows.assign(size_t(N), -1);
  if (d) d->assign(size_t(N) * V, -1);
  SoftmaxXentArgsT<double> a;
  a.N = N;
  a.V = V;
  a.logits = z.data();
  a.targets = t.data();
  a.weights = w ? w->data() : nullptr;
  a.loss_rows = rows.data();
  a.dlogits = d ? d->data() : nullptr;
  a.loss_sum = sum;
  return a;
}

TEST(SoftmaxXentRef, UniformLogitsGiveLogV) {
  const std::vector<double> z(2 * 5, 3.0);
  const std::vector<int32_t> t = {0, 4};
  std::vector<double> rows, d;
  double sum = 0;
  ref::softmax_xent(args(2, 5, z, t, nullptr, rows, &d, &sum));
  EXPECT_NEAR(rows[0], std::log(5.0), 1e-15);
  EXPECT_NEAR(sum, 2 * std::log(5.0), 1e-14);
  EXPECT_NEAR(d[0], 0.2 - 1, 1e-15);
  EXPECT_NEAR(d[1], 0.2, 1e-15);
  EXPECT_NEAR(d[9], 0.2 - 1, 1e-15);
}

TEST(SoftmaxXentRef, LargeLogitsStayFinite) {
  const std::vector<double> z = {1000, 0};
  const std::vector<int32_t> t = {1};
  std::vector<double> rows, d;
  ref::softmax_xent(args(1, 2, z, t, nullptr, rows, &d, nullptr));
  EXPECT_NEAR(rows[0], 1000, 1e-9);
  EXPECT_NEAR(d[0], 1, 1e-12);
  EXPECT_NEAR(d[1], -1, 1e-12);
}

TEST(SoftmaxXentRef, ZeroWeightRowsAreMasked) {
  const std::vector<double> z = test::uniform(3 * 4, 7);
  const std::vector<int32_t> t = {1, -1, 3};  // row 1 is padding
  const std::vector<double> w = {1, 0, 0.5};
  std::vector<double> rows, d;
  double sum = 0;
  ref::softmax_xent(args(3, 4, z, t, &w, rows, &d, &sum));
  EXPECT_EQ(rows[1], 0);
  for (int v = 0; v < 4; ++v) EXPECT_EQ(d[4 + v], 0);
  EXPECT_NEAR(sum, rows[0] + rows[2], 1e-15);
  std::vector<double> rows1, d1;
  const std::vector<int32_t> t1 = {1, 0, 3};
  const std::vector<double> w1 = {1, 1, 1};
  ref::softmax_xent(args(3, 4, z, t1, &w1, rows1, &d1, nullptr));
  EXPECT_NEAR(rows[2], 0.5 * rows1[2], 1e-15);
  EXPECT_NEAR(d[8], 0.5 * d1[8], 1e-15);
}

TEST(SoftmaxXentRef, RejectsBadTarget) {
  const std::vector<double> z(4, 0.0);
  const std::vector<int32_t> t = {4};
  std::vector<double> rows;
  EXPECT_THROW(ref::softmax_xent(args(1, 4, z, t, nullptr, rows, nullptr, nullptr)),
               cuda::InvalidArgument);
}

TEST(SoftmaxXentRef, GradientMatchesFiniteDifferences) {
  const int64_t N = 4;
  const int V = 7;
  std::vector<double> z = test::uniform(size_t(N) * V, 11, -3, 3);
  const std::vector<int32_t> t = test::uniform_int(size_t(N), 12, 0, V - 1);
  const std::vector<double> w = {1, 0.25, 2, 0};
  std::vector<double> rows, d;
  double sum = 0;
  ref::softmax_xent(args(N, V, z, t, &w, rows, &d, &sum));
  auto loss = [&] {
    std::vector<double> r;
    double s = 0;
    ref::softmax_xent(args(N, V, z, t, &w, r, nullptr, &s));
    return s;
  };
  test::expect_allclose(d, test::numeric_grad(z, loss), 1e-8, 1e-6, "dlogits", {N, V});
  // dlogits may alias logits
  std::vector<double> zz = z, rows2;
  SoftmaxXentArgsT<double> a = args(N, V, zz, t, &w, rows2, nullptr, nullptr);
  a.dlogits = zz.data();
  ref::softmax_xent(a);
  EXPECT_EQ(zz, d);
}

}  // namespace
}  // namespace melodl
