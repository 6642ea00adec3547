// tests/kernels/ref_basics_test.cpp: the small references the layer is built from: GEMM
// (all transpose combinations against hand-computed products), row gather and its one-hot
// weight gradient (exact, integer-valued), column and full sums, inverse-CDF sampling.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/reduce.h"
#include "kernels/sample.h"
#include "tests/kernels/test_util.h"

namespace melodl {
namespace {

TEST(GemmRef, HandComputedAllTransposes) {
  // A = [[1,2,3],[4,5,6]] (2x3), B = [[1,0],[0,1],[1,1]] (3x2): A B = [[4,5],[10,11]].
  const std::vector<double> A = {1, 2, 3, 4, 5, 6}, At = {1, 4, 2, 5, 3, 6};
  const std::vector<double> Bm = {1, 0, 0, 1, 1, 1}, Bt = {1, 0, 1, 0, 1, 1};
  const std::vector<double> want = {4, 5, 10, 11};
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<double> C(4, 99);
      ref::gemm<double>(ta, tb, 2, 2, 3, 1.0, ta ? At.data() : A.data(), ta ? 2 : 3,
                        tb ? Bt.data() : Bm.data(), tb ? 3 : 2, 0.0, C.data(), 2);
      EXPECT_EQ(C, want) << "trans_a=" << ta << " trans_b=" << tb;
    }
  }
  std::vector<double> C = {1, 1, 1, 1};
  ref::gemm<double>(false, false, 2, 2, 3, 2.0, A.data(), 3, Bm.data(), 2, 0.5, C.data(), 2);
  EXPECT_EQ(C, (std::vector<double>{8.5, 10.5, 20.5, 22.5}));
}

TEST(GatherRef, RowsPlusBiasExact) {
  const std::vector<double> W = {0, 1, 2, 10, 11, 12, 20, 21, 22};  // I = 3, G = 3
  const std::vector<double> b = {100, 200, 300};
  const std::vector<int32_t> sym = {2, 0, 2, 1};
  std::vector<double> out(12);
  ref::gather_rows(GatherArgsT<double>{4, 3, 3, sym.data(), W.data(), b.data(), out.data()});
  EXPECT_EQ(out, (std::vector<double>{120, 221, 322, 100, 201, 302, 120, 221, 322, 110, 211, 312}));
  ref::gather_rows(GatherArgsT<double>{4, 3, 3, sym.data(), W.data(), nullptr, out.data()});
  EXPECT_EQ(out[0], 20);
  const std::vector<int32_t> bad = {3};
  EXPECT_THROW(
      ref::gather_rows(GatherArgsT<double>{1, 3, 3, bad.data(), W.data(), nullptr, out.data()}),
      cuda::InvalidArgument);
}

TEST(GatherRef, OnehotGradIsTransposeOfGather) {
  // dW = onehot^T dz, i.e. <gather(W), dz> = <W, dW> for all W.
  const int64_t N = 6;
  const int I = 4, G = 3;
  const std::vector<int32_t> sym = {1, 3, 1, 0, 1, 3};
  const std::vector<double> dz = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  std::vector<double> dW(size_t(I) * G, 5);
  ref::onehot_weight_grad(
      OnehotGradArgsT<double>{N, I, G, sym.data(), dz.data(), dW.data(), false});
  EXPECT_EQ(dW, (std::vector<double>{10, 11, 12, 1 + 7 + 13, 2 + 8 + 14, 3 + 9 + 15, 0, 0, 0,
                                     4 + 16, 5 + 17, 6 + 18}));
  ref::onehot_weight_grad(OnehotGradArgsT<double>{N, I, G, sym.data(), dz.data(), dW.data(), true});
  EXPECT_EQ(dW[0], 20);
}

TEST(ReduceRef, ColumnSumAndSum) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6};  // [3,2]
  std::vector<double> out = {10, 20};
  ref::column_sum(x.data(), 3, 2, out.data(), false);
  EXPECT_EQ(out, (std::vector<double>{9, 12}));
  ref::column_sum(x.data(), 3, 2, out.data(), true);
  EXPECT_EQ(out, (std::vector<double>{18, 24}));
  EXPECT_EQ(ref::sum(x.data(), 6, false), 21);
  EXPECT_EQ(ref::sum(x.data(), 6, true), 91);
}

}  // namespace
}  // namespace melodl

namespace melodl {
namespace {

std::vector<int32_t> draw(const std::vector<double>& logits, int V, double temperature,
                          const std::vector<double>& u) {
  const int B = static_cast<int>(u.size());
  std::vector<double> z;
  for (int b = 0; b < B; ++b) z.insert(z.end(), logits.begin(), logits.end());
  std::vector<int32_t> out(u.size(), -1);
  SampleArgsT<double> a;
  a.B = B;
  a.V = V;
  a.logits = z.data();
  a.temperature = temperature;
  a.u = u.data();
  a.out = out.data();
  ref::sample(a);
  return out;
}

TEST(SampleRef, InverseCdfByHand) {
  // p = (1, 2, 1)/4: CDF 0.25, 0.75, 1
  const std::vector<double> z = {0, std::log(2.0), 0};
  EXPECT_EQ(draw(z, 3, 1.0, {0.0, 0.1, 0.249, 0.3, 0.74, 0.8, 0.999}),
            (std::vector<int32_t>{0, 0, 0, 1, 1, 2, 2}));
}

TEST(SampleRef, TemperatureSharpensAndFlattens) {
  const std::vector<double> z = {0, 5, 1};
  // ~argmax (u = 0 exactly would still pick symbol 0: its p is tiny but not zero)
  EXPECT_EQ(draw(z, 3, 0.01, {1e-9, 0.5, 0.999}), (std::vector<int32_t>{1, 1, 1}));
  // T -> large: nearly uniform, thirds of [0,1) map to 0, 1, 2
  EXPECT_EQ(draw(z, 3, 1e6, {0.1, 0.5, 0.9}), (std::vector<int32_t>{0, 1, 2}));
}

TEST(SampleRef, FrequenciesFollowSoftmax) {
  const std::vector<double> z = {0.5, -1, 2, 0};
  std::vector<double> u(4000);
  for (size_t i = 0; i < u.size(); ++i) u[i] = (i + 0.5) / u.size();
  const auto k = draw(z, 4, 1.0, u);
  double total = 0;
  for (double x : z) total += std::exp(x);
  for (int v = 0; v < 4; ++v) {
    const auto count = std::count(k.begin(), k.end(), v);
    EXPECT_NEAR(count, u.size() * std::exp(z[v]) / total, 1.0) << "symbol " << v;
  }
}

TEST(SampleRef, RejectsBadArguments) {
  EXPECT_THROW(draw({0, 0}, 2, 0.0, {0.5}), cuda::InvalidArgument);
}

}  // namespace
}  // namespace melodl
