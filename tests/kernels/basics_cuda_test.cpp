// tests/kernels/basics_cuda_test.cpp: GEMM wrapper, row gather + one-hot gradient and the
// deterministic reductions against their references. Gathers and one-hot gradients use
// integer-valued data and must match exactly. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <tuple>

#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/reduce.h"
#include "kernels/sample.h"
#include "tests/kernels/cuda_test_util.h"
#include "tests/kernels/tolerance.h"

namespace melodl {
namespace {

using test::as_float;
using test::cast;
using test::expect_allclose;
using test::to_device;
using test::uniform;

// ---- GEMM -----------------------------------------------------------------------------
void check_gemm(int M, int N, int K, bool tf32) {
  SCOPED_TRACE(testing::Message() << "M=" << M << " N=" << N << " K=" << K << " tf32=" << tf32);
  const int pad = 3;  // leading dimensions larger than the rows: checks ld handling
  cuda::DeviceContext dc(tf32 ? cuda::GemmMath::kTf32 : cuda::GemmMath::kFp32);
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      const int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
      const int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
      const auto A = as_float(uniform(size_t(a_rows) * lda, 31));
      const auto Bm = as_float(uniform(size_t(b_rows) * ldb, 32));
      auto C = as_float(uniform(size_t(M) * ldc, 33));
      std::vector<double> want = C;
      ref::gemm<double>(ta, tb, M, N, K, 1.5, A.data(), lda, Bm.data(), ldb, 0.5, want.data(), ldc);
      auto dA = to_device(cast<float>(A)), dB = to_device(cast<float>(Bm)),
           dC = to_device(cast<float>(C));
      cuda::gemm(dc.exec(), ta, tb, M, N, K, 1.5f, dA.get(), lda, dB.get(), ldb, 0.5f, dC.get(),
                 ldc);
      dc.synchronize();
      // fp32: K-term dot products of U(-1,1) values, |C| <~ sqrt(K): 1e-5*sqrt(K) is ~100 ulp.
      // tf32: the operand-rounding bound of tests/kernels/tolerance.h for K (+1: beta*C)
      // terms |a b| <= 1, scaled by |alpha|, with a 2x tail margin (docs/kernels.md
      // "Tolerance policy"): ~5.9e-3*sqrt(K+1).
      const double atol = tf32
                              ? 2 * 1.5 * test::dot_error(test::MathMode::kTf32, double(K) + 1, 1.0)
                              : 1e-5 * std::sqrt(double(K) + 1);
      std::ostringstream name;
      name << "C(ta=" << ta << ",tb=" << tb << ")";
      expect_allclose(dC.download(), want, atol, tf32 ? 1e-2 : 1e-4, name.str(), {M, ldc});
    }
  }
}

class BasicsCuda : public test::CudaTest {};

TEST_F(BasicsCuda, GemmAllTransposesMatchReference) {
  // M, N, K, tf32: tiny, odd, larger odd, the seed's per-step and batched shapes, K = 0
  const std::tuple<int, int, int, bool> cases[] = {
      {1, 1, 1, false},     {7, 33, 5, false}, {37, 257, 129, false}, {64, 800, 200, false},
      {32, 800, 200, true}, {7, 33, 5, true},  {3, 5, 0, false}};
  for (const auto& [M, N, K, tf32] : cases) check_gemm(M, N, K, tf32);
}

TEST_F(BasicsCuda, GemmBetaZeroIgnoresNaNInC) {
  cuda::DeviceContext dc(cuda::GemmMath::kFp32);
  const std::vector<float> A = {1, 2, 3, 4}, B = {1, 0, 0, 1};
  auto dA = to_device(A), dB = to_device(B);
  auto dC = to_device(std::vector<float>(4, std::nanf("")));
  cuda::gemm(dc.exec(), false, false, 2, 2, 2, 1.f, dA.get(), 2, dB.get(), 2, 0.f, dC.get(), 2);
  dc.synchronize();
  EXPECT_EQ(dC.download(), A);
}

// ---- gather / one-hot gradient --------------------------------------------------------
TEST_F(BasicsCuda, GatherAndOnehotGradExactOnIntegers) {
  const int64_t N = 1600;  // seed shape: T*B = 50*32, V = 80, G = 800
  const int I = 80, G = 800;
  const auto sym = test::uniform_int(size_t(N), 41, 0, I - 1);
  std::vector<double> W(size_t(I) * G), b(static_cast<size_t>(G)), dz(size_t(N) * G);
  for (size_t k = 0; k < W.size(); ++k) W[k] = double(int(k % 97) - 48);
  for (size_t k = 0; k < b.size(); ++k) b[k] = double(int(k % 13) - 6);
  for (size_t k = 0; k < dz.size(); ++k) dz[k] = double(int((k * 7) % 31) - 15);
  std::vector<double> out(size_t(N) * G), dW(size_t(I) * G);
  ref::gather_rows(GatherArgsT<double>{N, I, G, sym.data(), W.data(), b.data(), out.data()});
  ref::onehot_weight_grad(
      OnehotGradArgsT<double>{N, I, G, sym.data(), dz.data(), dW.data(), false});

  cuda::DeviceContext dc;
  auto d_sym = to_device(sym);
  auto d_W = to_device(cast<float>(W)), d_b = to_device(cast<float>(b)),
       d_dz = to_device(cast<float>(dz));
  cuda::DeviceBuffer<float> d_out(out.size()), d_dW(dW.size());
  cuda::gather_rows(GatherArgs{N, I, G, d_sym.get(), d_W.get(), d_b.get(), d_out.get()}, dc.exec());
  cuda::onehot_weight_grad(OnehotGradArgs{N, I, G, d_sym.get(), d_dz.get(), d_dW.get(), false},
                           dc.exec());
  dc.synchronize();
  EXPECT_EQ(cast<double>(d_out.download()), out);
  EXPECT_EQ(cast<double>(d_dW.download()), dW);
  // accumulate doubles it
  cuda::onehot_weight_grad(OnehotGradArgs{N, I, G, d_sym.get(), d_dz.get(), d_dW.get(), true},
                           dc.exec());
  dc.synchronize();
  for (auto& x : dW) x *= 2;
  EXPECT_EQ(cast<double>(d_dW.download()), dW);
}

TEST_F(BasicsCuda, GatherOutOfRangeSymbolGivesNaNRow) {
  const std::vector<int32_t> sym = {0, 5, -1};
  const std::vector<float> W = {1, 2, 3, 4};  // I = 2, G = 2
  cuda::DeviceContext dc;
  auto d_sym = to_device(sym);
  auto d_W = to_device(W);
  cuda::DeviceBuffer<float> d_out(6);
  cuda::gather_rows(GatherArgs{3, 2, 2, d_sym.get(), d_W.get(), nullptr, d_out.get()}, dc.exec());
  dc.synchronize();
  const auto out = d_out.download();
  EXPECT_EQ(out[0], 1.f);
  EXPECT_EQ(out[1], 2.f);
  for (int k = 2; k < 6; ++k) EXPECT_TRUE(std::isnan(out[k])) << k;
}

// ---- reductions -----------------------------------------------------------------------
TEST_F(BasicsCuda, ColumnSumMatchesReferenceAndIsDeterministic) {
  cuda::DeviceContext dc;
  for (const auto& [N, M] :
       {std::pair<int64_t, int64_t>{1, 1}, {37, 33}, {1600, 800}, {7, 600}, {1597, 80}, {65, 9}}) {
    const auto x = as_float(uniform(size_t(N * M), 51));
    std::vector<double> want(static_cast<size_t>(M));
    ref::column_sum(x.data(), N, M, want.data(), false);
    auto dx = to_device(cast<float>(x));
    cuda::DeviceBuffer<float> out(static_cast<size_t>(M));
    cuda::column_sum(dx.get(), N, M, out.get(), false, dc.exec());
    dc.synchronize();
    const auto r1 = out.download();
    // |error| <~ N * eps * max|x|: 1e-6 * N with U(-1,1) inputs
    expect_allclose(r1, want, 1e-6 * double(N) + 1e-6, 1e-5, "column_sum", {M});
    cuda::column_sum(dx.get(), N, M, out.get(), false, dc.exec());
    dc.synchronize();
    EXPECT_EQ(out.download(), r1);
    // accumulate adds to out
    cuda::column_sum(dx.get(), N, M, out.get(), true, dc.exec());
    dc.synchronize();
    std::vector<double> twice(want);
    for (auto& v : twice) v *= 2;
    expect_allclose(out.download(), twice, 2e-6 * double(N) + 2e-6, 1e-5, "column_sum accumulate",
                    {M});
  }
}

TEST_F(BasicsCuda, SumAndSquaredSumMatchReferenceAndAreDeterministic) {
  cuda::DeviceContext dc;
  cuda::DeviceBuffer<float> ws(size_t(cuda::kSumWorkspaceFloats)), out(1);
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{1000}, int64_t{541859}, int64_t{1} << 22}) {
    const auto x = as_float(uniform(size_t(n), 61));
    auto dx = to_device(cast<float>(x));
    for (bool sq : {false, true}) {
      const double want = ref::sum(x.data(), n, sq);
      cuda::sum(dx.get(), n, sq, out.get(), ws.get(), dc.exec());
      dc.synchronize();
      const float got = out.download()[0];
      double abs_sum = 0;
      for (double v : x) abs_sum += sq ? v * v : std::abs(v);
      EXPECT_NEAR(got, want, 1e-5 * abs_sum + 1e-6) << "n=" << n << " squares=" << sq;
      cuda::sum(dx.get(), n, sq, out.get(), ws.get(), dc.exec());
      dc.synchronize();
      EXPECT_EQ(out.download()[0], got) << "not deterministic, n=" << n;
    }
  }
}

// ---- sampling ----------------------------------------------------------------------------
TEST_F(BasicsCuda, SampleMatchesReferenceCdf) {
  const int B = 1000, V = 80;
  const auto z = as_float(uniform(size_t(B) * V, 101, -3, 3));
  const auto u = as_float(uniform(size_t(B), 102, 0, 1));
  cuda::DeviceContext dc;
  auto d_z = to_device(cast<float>(z)), d_u = to_device(cast<float>(u));
  cuda::DeviceBuffer<int32_t> d_out(static_cast<size_t>(B));
  for (double temperature : {1.0, 0.5, 2.0}) {
    SampleArgs a;
    a.B = B;
    a.V = V;
    a.logits = d_z.get();
    a.temperature = static_cast<float>(temperature);
    a.u = d_u.get();
    a.out = d_out.get();
    cuda::sample(a, dc.exec());
    dc.synchronize();
    const auto got = d_out.download();
    cuda::sample(a, dc.exec());
    dc.synchronize();
    EXPECT_EQ(d_out.download(), got) << "not deterministic";
    // The GPU's k must be where the double CDF crosses u, up to fp32 rounding (1e-5).
    int mismatches = 0;
    for (int b = 0; b < B; ++b) {
      const double* zr = z.data() + size_t(b) * V;
      double m = zr[0], total = 0;
      for (int v = 1; v < V; ++v) m = std::max(m, zr[v]);
      std::vector<double> cdf(V);
      for (int v = 0; v < V; ++v) cdf[v] = (total += std::exp((zr[v] - m) / temperature));
      for (auto& c : cdf) c /= total;
      const int k = got[size_t(b)];
      ASSERT_TRUE(k >= 0 && k < V) << "row " << b << " k=" << k;
      const double lo = k ? cdf[k - 1] : 0.0, hi = cdf[k];
      if (!(lo <= u[size_t(b)] + 1e-5 && u[size_t(b)] < hi + 1e-5)) ++mismatches;
    }
    EXPECT_EQ(mismatches, 0) << "temperature " << temperature;
  }
}

}  // namespace
}  // namespace melodl
