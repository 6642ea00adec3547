// tests/kernels/lstm_layer_cuda_test.cpp: the CUDA layer (variant (a)) forward and backward
// against ref::lstm_layer_*<double> on the same float-rounded problem: odd sizes (H in
// {1,3,33,257}, B in {1,7}, T in {1,2,37}), dense and one-hot input, peepholes on/off, the
// seed shape, exact-fp32 and TF32 GEMMs, accumulate mode, bitwise determinism, and the
// persistent forward (variant (b)) where it fits the device.
// Tolerances (style.md 2.6): forward atol 1e-5 / rtol 1e-4, gradients 1e-4 / 1e-3, each atol
// raised to 4x the ref<float>-vs-ref<double> error (self-calibrating). TF32: 2e-2 / 2e-2,
// initial values to calibrate on the first GPU run. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>

#include "kernels/lstm_layer.h"
#include "tests/kernels/cuda_test_util.h"
#include "tests/kernels/layer_fixture.h"

namespace melodl {
namespace {

using test::as_float;
using test::cast;
using test::expect_allclose;
using test::LayerProblem;
using test::LayerShape;
using test::to_device;

struct CudaLayerResult {
  std::vector<float> hs, cs, gates, dW, dR, db, dp, dx, dh0, dc0;
  bool operator==(const CudaLayerResult&) const = default;
};

// Runs forward + backward on the device with the problem's (float) data. persistent: the
// forward is variant (b); the backward is always variant (a).
CudaLayerResult run_cuda(const LayerProblem& P, cuda::GemmMath math, bool accumulate_twice = false,
                         bool persistent = false) {
  const auto& s = P.s;
  const size_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
  cuda::DeviceContext dc(math);
  auto d_sym = to_device(P.symbols);
  auto d_x = to_device(cast<float>(P.x)), d_W = to_device(cast<float>(P.W)),
       d_R = to_device(cast<float>(P.R)), d_b = to_device(cast<float>(P.b)),
       d_p = to_device(cast<float>(P.p)), d_h0 = to_device(cast<float>(P.h0)),
       d_c0 = to_device(cast<float>(P.c0)), d_dhs = to_device(cast<float>(P.dhs)),
       d_dhT = to_device(cast<float>(P.dh_T)), d_dcT = to_device(cast<float>(P.dc_T));
  cuda::DeviceBuffer<float> hs(T * B * H), cs(T * B * H), gates(T * B * G), dW(I * G), dR(H * G),
      db(G), dp(3 * H), dx(s.onehot ? 0 : T * B * I), dh0(B * H), dc0(B * H),
      ws(cuda::lstm_layer_bwd_workspace_floats(s.T, s.B, s.H));
  LayerFwdArgs f;
  f.T = s.T;
  f.B = s.B;
  f.I = s.I;
  f.H = s.H;
  f.peephole = s.peephole;
  f.symbols = s.onehot ? d_sym.get() : nullptr;
  f.x = s.onehot ? nullptr : d_x.get();
  f.W = d_W.get();
  f.R = d_R.get();
  f.b = d_b.get();
  f.p = s.peephole ? d_p.get() : nullptr;
  f.h0 = d_h0.get();
  f.c0 = d_c0.get();
  f.hs = hs.get();
  f.cs = cs.get();
  f.gates = gates.get();
  if (persistent)
    cuda::lstm_layer_forward_persistent(f, dc.exec());
  else
    cuda::lstm_layer_forward(f, dc.exec());
  LayerBwdArgs g;
  g.T = s.T;
  g.B = s.B;
  g.I = s.I;
  g.H = s.H;
  g.peephole = s.peephole;
  g.symbols = f.symbols;
  g.x = f.x;
  g.W = f.W;
  g.R = f.R;
  g.p = f.p;
  g.h0 = f.h0;
  g.c0 = f.c0;
  g.hs = hs.get();
  g.cs = cs.get();
  g.gates = gates.get();
  g.dhs = d_dhs.get();
  g.dh_T = d_dhT.get();
  g.dc_T = d_dcT.get();
  g.dW = dW.get();
  g.dR = dR.get();
  g.db = db.get();
  g.dp = s.peephole ? dp.get() : nullptr;
  g.dx = s.onehot ? nullptr : dx.get();
  g.dh0 = dh0.get();
  g.dc0 = dc0.get();
  g.workspace = ws.get();
  cuda::lstm_layer_backward(g, dc.exec());
  if (accumulate_twice) {
    g.accumulate = true;
    cuda::lstm_layer_backward(g, dc.exec());
  }
  dc.synchronize();
  return {hs.download(),
          cs.download(),
          gates.download(),
          dW.download(),
          dR.download(),
          db.download(),
          s.peephole ? dp.download() : std::vector<float>{},
          dx.download(),
          dh0.download(),
          dc0.download()};
}

LayerProblem float_problem(const LayerShape& shape) {
  LayerProblem P(shape);
  for (auto* v : {&P.x, &P.W, &P.R, &P.b, &P.p, &P.h0, &P.c0, &P.dhs, &P.dh_T, &P.dc_T})
    *v = as_float(*v);
  return P;
}

void compare(const LayerProblem& P, const CudaLayerResult& got, bool tf32) {
  const auto& s = P.s;
  const auto od = P.forward_ref<double>();
  const auto of = P.forward_ref<float>();
  const auto gd = P.backward_ref<double>(od);
  const auto gf = P.backward_ref<float>(of);
  const int64_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
  auto check = [&](const std::vector<float>& a, const std::vector<float>& f,
                   const std::vector<double>& d, bool grad, const char* name,
                   const std::vector<int64_t>& dims) {
    if (tf32) {
      expect_allclose(a, d, 2e-2, 2e-2, name, dims);
    } else {
      const double floor = grad ? 1e-4 : 1e-5, rtol = grad ? 1e-3 : 1e-4;
      expect_allclose(a, d, test::calibrated_atol(f, d, floor), rtol, name, dims);
    }
  };
  check(got.hs, of.hs, od.hs, false, "hs", {T, B, H});
  check(got.cs, of.cs, od.cs, false, "cs", {T, B, H});
  check(got.gates, of.gates, od.gates, false, "gates", {T, B, G});
  check(got.dW, gf.dW, gd.dW, true, "dW", {I, G});
  check(got.dR, gf.dR, gd.dR, true, "dR", {H, G});
  check(got.db, gf.db, gd.db, true, "db", {G});
  if (s.peephole) check(got.dp, gf.dp, gd.dp, true, "dp", {3, H});
  if (!s.onehot) check(got.dx, gf.dx, gd.dx, true, "dx", {T, B, I});
  check(got.dh0, gf.dh0, gd.dh0, true, "dh0", {B, H});
  check(got.dc0, gf.dc0, gd.dc0, true, "dc0", {B, H});
  EXPECT_GT(test::norm2(got.hs), 0.0);
  EXPECT_GT(test::norm2(got.dR), 0.0);
  EXPECT_GT(test::norm2(got.dW), 0.0);
}

class LayerCuda : public test::CudaParamTest<LayerShape> {};

// One test per shape runs every mode (each ctest entry pays the CUDA start-up).
TEST_P(LayerCuda, MatchesReference) {
  const LayerProblem P = float_problem(GetParam());
  {
    SCOPED_TRACE("exact fp32 GEMMs");
    const auto got = run_cuda(P, cuda::GemmMath::kFp32);
    compare(P, got, /*tf32=*/false);
    EXPECT_TRUE(got == run_cuda(P, cuda::GemmMath::kFp32)) << "repeat run is not bitwise equal";
  }
  {
    SCOPED_TRACE("TF32 GEMMs");
    const auto got = run_cuda(P, cuda::GemmMath::kTf32);
    compare(P, got, /*tf32=*/true);
    EXPECT_TRUE(got == run_cuda(P, cuda::GemmMath::kTf32)) << "repeat run is not bitwise equal";
  }
  if (cuda::lstm_layer_forward_persistent_fits(P.s.B, P.s.H)) {
    SCOPED_TRACE("persistent forward (variant b), exact fp32");
    const auto got = run_cuda(P, cuda::GemmMath::kFp32, false, /*persistent=*/true);
    compare(P, got, /*tf32=*/false);  // forward from (b); gradients from (a) on its activations
    EXPECT_TRUE(got == run_cuda(P, cuda::GemmMath::kFp32, false, true))
        << "repeat run is not bitwise equal";
  } else {
    std::printf("variant (b) does not fit B=%d H=%d on this device: not tested\n", P.s.B, P.s.H);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LayerCuda,
    ::testing::Values(LayerShape{1, 1, 1, 1, true, false}, LayerShape{2, 7, 3, 3, true, false},
                      LayerShape{37, 7, 5, 33, true, false},
                      LayerShape{37, 1, 33, 33, false, false},
                      LayerShape{2, 7, 257, 257, true, false},
                      LayerShape{37, 7, 17, 257, true, true}, LayerShape{1, 7, 80, 33, false, true},
                      LayerShape{37, 1, 59, 3, true, true},
                      LayerShape{50, 32, 80, 200, true, true},     // seed layer 0
                      LayerShape{50, 32, 200, 200, true, false}),  // seed layer 1
    [](const auto& info) { return info.param.name(); });

class LayerCudaMisc : public test::CudaTest {};

TEST_F(LayerCudaMisc, AccumulateAddsToWeightGradients) {
  const LayerProblem P = float_problem(LayerShape{5, 7, 9, 33, true, false});
  const auto once = run_cuda(P, cuda::GemmMath::kFp32);
  const auto twice = run_cuda(P, cuda::GemmMath::kFp32, /*accumulate_twice=*/true);
  auto doubled = [](std::vector<float> v) {
    for (auto& x : v) x *= 2;
    return v;
  };
  expect_allclose(twice.dW, doubled(once.dW), 1e-6, 1e-6, "dW");
  expect_allclose(twice.dR, doubled(once.dR), 1e-6, 1e-6, "dR");
  expect_allclose(twice.db, doubled(once.db), 1e-6, 1e-6, "db");
  expect_allclose(twice.dp, doubled(once.dp), 1e-6, 1e-6, "dp");
  EXPECT_EQ(twice.dx, once.dx);  // dx is overwritten, never accumulated
}

}  // namespace
}  // namespace melodl
