// tests/kernels/lstm_layer_cuda_test.cpp: the CUDA layer (variant (a)) forward and backward
// against ref::lstm_layer_*<double> on the same float-rounded problem: odd sizes (H in
// {1,3,33,257}, B in {1,7}, T in {1,2,37}), dense and one-hot input, peepholes on/off, the
// seed shape, exact-fp32 and TF32 GEMMs, accumulate mode, bitwise determinism, and the
// persistent forward (variant (b)) where it fits the device. PersistentBackward*: the
// persistent backward (variant (b)) against the double reference and against variant (a)
// on the GPU (every output tensor, outputs poisoned with NaN first), accumulate, null
// dh_T/dc_T/dh0/dc0, multi-CTA and partial-CTA shapes, repeat runs bitwise equal, the fits
// check against its shared-memory formula and the "does not fit" error. PersistentSplitK*:
// the split-k persistent forward (variant (c)) against the double reference, variants (a) and
// (b), itself (repeat runs, inference, the scalar copy path), chosen units per CTA and batch
// tiles, its fits check and errors.
// Tolerances (tests/kernels/layer_compare.h, docs/kernels.md "Tolerance policy"): forward
// atol 1e-5 / rtol 1e-4, gradients 1e-4 / 1e-3, each atol raised to 4x the
// ref<float>-vs-ref<double> error (self-calibrating); TF32 derived from the math mode and
// the shape (tests/kernels/tolerance.h). The references of a shape are built once. Skips
// without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <sstream>

#include "kernels/lstm_layer.h"
#include "kernels/lstm_layer_persistent_splitk.h"
#include "kernels/runtime.h"
#include "tests/kernels/cuda_test_util.h"
#include "tests/kernels/layer_compare.h"
#include "tests/kernels/layer_fixture.h"

namespace melodl {
namespace {

using test::as_float;
using test::cast;
using test::compare;
using test::CudaLayerResult;
using test::expect_allclose;
using test::grad_atol;
using test::LayerProblem;
using test::LayerShape;
using test::to_device;
using Refs = test::LayerRefs;

// How run_cuda runs the problem.
struct RunOpts {
  cuda::GemmMath math = cuda::GemmMath::kFp32;
  bool persistent_fwd = false;    // forward: variant (b) instead of (a)
  bool persistent_bwd = false;    // backward: variant (b) instead of (a)
  bool accumulate_twice = false;  // a second backward with accumulate = true
  bool final_grads = true;        // false: dh_T, dc_T are null
  bool state_grads = true;        // false: dh0, dc0 are null (their results stay empty)
  bool poison = false;            // fill every backward output and the workspace with NaN
  bool offset_workspace = false;  // workspace 4 bytes past a 16-byte boundary (variant (b)'s
                                  // scalar path; its float4 path needs 16-byte alignment)
  int units_per_cta = 0;          // variant (b) backward: hidden units per CTA (0: automatic)
  bool splitk_fwd = false;        // forward: variant (c) (split-k persistent) instead
};

// Runs forward + backward on the device with the problem's (float) data.
CudaLayerResult run_cuda(const LayerProblem& P, const RunOpts& o) {
  const auto& s = P.s;
  const size_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
  cuda::DeviceContext dc(o.math);
  auto d_sym = to_device(P.symbols);
  auto d_x = to_device(cast<float>(P.x)), d_W = to_device(cast<float>(P.W)),
       d_R = to_device(cast<float>(P.R)), d_b = to_device(cast<float>(P.b)),
       d_p = to_device(cast<float>(P.p)), d_h0 = to_device(cast<float>(P.h0)),
       d_c0 = to_device(cast<float>(P.c0)), d_dhs = to_device(cast<float>(P.dhs)),
       d_dhT = to_device(cast<float>(P.dh_T)), d_dcT = to_device(cast<float>(P.dc_T));
  auto out = [&](size_t n) {
    return o.poison ? cuda::DeviceBuffer<float>(
                          std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()))
                    : cuda::DeviceBuffer<float>(n);
  };
  cuda::DeviceBuffer<float> hs(T * B * H), cs(T * B * H), gates(T * B * G);
  auto dW = out(I * G), dR = out(H * G), db = out(G), dp = out(3 * H),
       dx = out(s.onehot ? 0 : T * B * I), dh0 = out(B * H), dc0 = out(B * H),
       ws = out(cuda::lstm_layer_bwd_workspace_floats(s.T, s.B, s.H) + 1);
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
  if (o.splitk_fwd)
    cuda::lstm_layer_forward_persistent(f, dc.exec(), cuda::PersistentFwd::kC);
  else if (o.persistent_fwd)
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
  g.dh_T = o.final_grads ? d_dhT.get() : nullptr;
  g.dc_T = o.final_grads ? d_dcT.get() : nullptr;
  g.dW = dW.get();
  g.dR = dR.get();
  g.db = db.get();
  g.dp = s.peephole ? dp.get() : nullptr;
  g.dx = s.onehot ? nullptr : dx.get();
  g.dh0 = o.state_grads ? dh0.get() : nullptr;
  g.dc0 = o.state_grads ? dc0.get() : nullptr;
  g.workspace = ws.get() + (o.offset_workspace ? 1 : 0);
  auto backward = [&] {
    if (o.persistent_bwd)
      cuda::lstm_layer_backward_persistent(g, dc.exec(), o.units_per_cta);
    else
      cuda::lstm_layer_backward(g, dc.exec());
  };
  backward();
  if (o.accumulate_twice) {
    g.accumulate = true;
    backward();
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
          o.state_grads ? dh0.download() : std::vector<float>{},
          o.state_grads ? dc0.download() : std::vector<float>{}};
}

// The original interface: persistent = forward variant (b); the backward is variant (a).
CudaLayerResult run_cuda(const LayerProblem& P, cuda::GemmMath math, bool accumulate_twice = false,
                         bool persistent = false) {
  RunOpts o;
  o.math = math;
  o.accumulate_twice = accumulate_twice;
  o.persistent_fwd = persistent;
  return run_cuda(P, o);
}

LayerProblem float_problem(const LayerShape& shape) {
  LayerProblem P(shape);
  for (auto* v : {&P.x, &P.W, &P.R, &P.b, &P.p, &P.h0, &P.c0, &P.dhs, &P.dh_T, &P.dc_T})
    *v = as_float(*v);
  return P;
}

class LayerCuda : public test::CudaParamTest<LayerShape> {};

// One test per shape runs every mode (each ctest entry pays the CUDA start-up), all against
// one set of references (test::check_every_mode builds them once per shape).
TEST_P(LayerCuda, MatchesReference) {
  const LayerProblem P = float_problem(GetParam());
  test::check_every_mode(
      P,
      [&](cuda::GemmMath math, bool persistent) {
        return run_cuda(P, math, /*accumulate_twice=*/false, persistent);
      },
      cuda::lstm_layer_forward_persistent_fits(P.s.B, P.s.H));
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

// ---- Variant (b) backward: the persistent kernel -------------------------------------------

// Variant (b) against variant (a) (both exact fp32, same forward): each gradient within twice
// the fp32-vs-double budget (both lie within one budget of the double reference); the
// forward tensors, read by the backward, bitwise untouched.
void compare_variants(const LayerProblem& P, const Refs& r, const CudaLayerResult& b,
                      const CudaLayerResult& a) {
  const auto& s = P.s;
  const int64_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
  auto check = [&](const std::vector<float>& got, const std::vector<float>& want,
                   const std::vector<float>& f, const std::vector<double>& d, const char* name,
                   const std::vector<int64_t>& dims) {
    expect_allclose(got, want, 2 * grad_atol(f, d), 2e-3, std::string("(b) vs (a) ") + name, dims);
  };
  EXPECT_EQ(b.hs, a.hs);
  EXPECT_EQ(b.cs, a.cs);
  EXPECT_EQ(b.gates, a.gates);
  check(b.dW, a.dW, r.gf.dW, r.gd.dW, "dW", {I, G});
  check(b.dR, a.dR, r.gf.dR, r.gd.dR, "dR", {H, G});
  check(b.db, a.db, r.gf.db, r.gd.db, "db", {G});
  if (s.peephole) check(b.dp, a.dp, r.gf.dp, r.gd.dp, "dp", {3, H});
  if (!s.onehot) check(b.dx, a.dx, r.gf.dx, r.gd.dx, "dx", {T, B, I});
  check(b.dh0, a.dh0, r.gf.dh0, r.gd.dh0, "dh0", {B, H});
  check(b.dc0, a.dc0, r.gf.dc0, r.gd.dc0, "dc0", {B, H});
}

RunOpts persistent_bwd_opts() {
  RunOpts o;
  o.persistent_bwd = true;
  o.poison = true;
  return o;
}

class PersistentBackward : public test::CudaParamTest<LayerShape> {};

// One test per shape: (b) against ref<double> and against (a), repeat runs bitwise equal,
// the whole variant-(b) layer (forward and backward) where the forward fits too, the
// scalar-load path (misaligned workspace), TF32.
TEST_P(PersistentBackward, MatchesReferenceAndVariantA) {
  const LayerProblem P = float_problem(GetParam());
  if (!cuda::lstm_layer_backward_persistent_fits(P.s.B, P.s.H))
    GTEST_SKIP() << "variant (b) backward does not fit B=" << P.s.B << " H=" << P.s.H
                 << " on this device (PersistentBackwardMisc.FitsFollowsSharedMemoryFormula "
                    "checks that this is right)";
  const Refs r(P);
  RunOpts o = persistent_bwd_opts();
  const auto got = run_cuda(P, o);
  {
    SCOPED_TRACE("backward (b) vs ref<double>, exact fp32");
    compare(P, r, got, /*tf32=*/false);
  }
  EXPECT_TRUE(got == run_cuda(P, o)) << "repeat run is not bitwise equal";
  {
    SCOPED_TRACE("backward (b) vs backward (a) on the GPU, exact fp32");
    RunOpts oa = o;
    oa.persistent_bwd = false;
    compare_variants(P, r, got, run_cuda(P, oa));
  }
  if (cuda::lstm_layer_forward_persistent_fits(P.s.B, P.s.H)) {
    SCOPED_TRACE("forward (b) + backward (b), exact fp32");
    RunOpts ob = o;
    ob.persistent_fwd = true;
    const auto both = run_cuda(P, ob);
    compare(P, r, both, /*tf32=*/false);
    EXPECT_TRUE(both == run_cuda(P, ob)) << "repeat run is not bitwise equal";
  }
  {
    SCOPED_TRACE("backward (b), misaligned workspace (scalar loads), exact fp32");
    RunOpts om = o;
    om.offset_workspace = true;
    const auto mis = run_cuda(P, om);
    compare(P, r, mis, /*tf32=*/false);
    EXPECT_TRUE(mis == run_cuda(P, om)) << "repeat run is not bitwise equal";
  }
  {
    SCOPED_TRACE("backward (b), TF32 GEMMs (forward (a) and the weight-gradient GEMMs)");
    RunOpts ot = o;
    ot.math = cuda::GemmMath::kTf32;
    compare(P, r, run_cuda(P, ot), /*tf32=*/true);
  }
}

// Shapes: as LayerCuda (odd sizes, T in {1,2,37}, B in {1,7}, H in {1,3,33,257}, one-hot and
// dense, peepholes on/off, both seed layers), plus shapes for the CTA mapping (132 SMs):
// H 257 -> U 2, 129 CTAs, the last owns 1 unit; H 395 -> U 3 (kUC 4, guarded), last CTA 2
// units; H 512 B 64 -> U 4; H 1024 B 64 -> U 8; H 1200 -> U 10 (two passes of kUC 8).
INSTANTIATE_TEST_SUITE_P(
    Shapes, PersistentBackward,
    ::testing::Values(
        LayerShape{1, 1, 1, 1, true, false}, LayerShape{1, 1, 1, 1, false, true},
        LayerShape{2, 7, 3, 3, true, false}, LayerShape{2, 1, 4, 3, false, true},
        LayerShape{37, 7, 5, 33, true, false}, LayerShape{37, 1, 33, 33, false, false},
        LayerShape{2, 7, 257, 257, true, false}, LayerShape{37, 7, 17, 257, true, true},
        LayerShape{1, 7, 80, 33, false, true}, LayerShape{37, 1, 59, 3, true, true},
        LayerShape{3, 7, 5, 395, false, false}, LayerShape{3, 64, 16, 512, true, false},
        LayerShape{2, 64, 16, 1024, true, false}, LayerShape{3, 3, 9, 1200, true, true},
        LayerShape{50, 32, 80, 200, true, true},     // seed layer 0
        LayerShape{50, 32, 200, 200, true, false}),  // seed layer 1
    [](const auto& info) { return info.param.name(); });

class PersistentBackwardMisc : public test::CudaTest {};

// accumulate = true adds to dW, dR, db, dp; dx, dh0, dc0 are overwritten (so equal).
TEST_F(PersistentBackwardMisc, AccumulateAddsToWeightGradients) {
  for (const bool onehot : {false, true}) {
    const LayerProblem P = float_problem(LayerShape{5, 7, 9, 33, true, onehot});
    SCOPED_TRACE(P.s.name());
    RunOpts o = persistent_bwd_opts();
    const auto once = run_cuda(P, o);
    o.accumulate_twice = true;
    const auto twice = run_cuda(P, o);
    auto doubled = [](std::vector<float> v) {
      for (auto& x : v) x *= 2;
      return v;
    };
    expect_allclose(twice.dW, doubled(once.dW), 1e-6, 1e-6, "dW");
    expect_allclose(twice.dR, doubled(once.dR), 1e-6, 1e-6, "dR");
    expect_allclose(twice.db, doubled(once.db), 1e-6, 1e-6, "db");
    expect_allclose(twice.dp, doubled(once.dp), 1e-6, 1e-6, "dp");
    EXPECT_EQ(twice.dx, once.dx);  // dx, dh0, dc0 are overwritten, never accumulated
    EXPECT_EQ(twice.dh0, once.dh0);
    EXPECT_EQ(twice.dc0, once.dc0);
    EXPECT_GT(test::norm2(once.dW), 0.0);
  }
}

// dh_T = dc_T = null means zero final-state gradients (truncated BPTT); dh0 = dc0 = null
// leaves every other output bitwise as it was.
TEST_F(PersistentBackwardMisc, NullFinalAndInitialStateGradients) {
  for (const bool peephole : {true, false}) {
    LayerProblem P = float_problem(LayerShape{6, 7, 5, 33, peephole, false});
    SCOPED_TRACE(P.s.name());
    std::fill(P.dh_T.begin(), P.dh_T.end(), 0.0);  // the reference then sees zeros
    std::fill(P.dc_T.begin(), P.dc_T.end(), 0.0);
    RunOpts o = persistent_bwd_opts();
    o.final_grads = false;
    const auto got = run_cuda(P, o);
    compare(P, Refs(P), got, /*tf32=*/false);
    o.state_grads = false;
    auto no_state = run_cuda(P, o);
    EXPECT_TRUE(no_state.dh0.empty() && no_state.dc0.empty());
    no_state.dh0 = got.dh0;
    no_state.dc0 = got.dc0;
    EXPECT_TRUE(no_state == got) << "dh0/dc0 = null changed other outputs";
  }
  {  // dh_T/dc_T set, dh0/dc0 null (T = 1: the kernel's only step is also the last)
    const LayerProblem P = float_problem(LayerShape{1, 7, 5, 33, true, false});
    RunOpts o = persistent_bwd_opts();
    const auto with_state = run_cuda(P, o);
    o.state_grads = false;
    auto no_state = run_cuda(P, o);
    no_state.dh0 = with_state.dh0;
    no_state.dc0 = with_state.dc0;
    EXPECT_TRUE(no_state == with_state) << "dh0/dc0 = null changed other outputs (T = 1)";
  }
}

// Hidden units per CTA chosen by the caller: every CTA mapping of small shapes, incl. a
// partial last CTA (H 33: U 5 -> 7 CTAs, the last owns 3; U 10 -> 4 CTAs, the last 3),
// kUC 8 with guards (U 5) and several passes (U 10, 17: 8 + 8 + 1), one CTA (U = H), and
// more CTAs than SMs where several fit per SM (U 1 at H 257). Also the range check.
TEST_F(PersistentBackwardMisc, ChosenUnitsPerCta) {
  for (const auto& shape :
       {LayerShape{5, 7, 5, 33, true, false}, LayerShape{3, 9, 11, 33, false, true},
        LayerShape{2, 5, 7, 257, true, false}}) {
    const LayerProblem P = float_problem(shape);
    SCOPED_TRACE(P.s.name());
    const Refs r(P);
    for (const int U : {1, 2, 3, 5, 8, 10, 17, 33, 64, 257}) {
      if (U > P.s.H) continue;
      SCOPED_TRACE("units_per_cta " + std::to_string(U));
      if (!cuda::lstm_layer_backward_persistent_fits(P.s.B, P.s.H, U)) {
        std::printf("%s: U=%d does not fit on this device: not tested\n", P.s.name().c_str(), U);
        continue;
      }
      RunOpts o = persistent_bwd_opts();
      o.units_per_cta = U;
      const auto got = run_cuda(P, o);
      compare(P, r, got, /*tf32=*/false);
      EXPECT_TRUE(got == run_cuda(P, o)) << "repeat run is not bitwise equal";
      o.offset_workspace = true;
      compare(P, r, run_cuda(P, o), /*tf32=*/false);
    }
  }
  EXPECT_TRUE(cuda::lstm_layer_backward_persistent_fits(7, 33, 33));  // one CTA: 19 KB
  EXPECT_THROW(cuda::lstm_layer_backward_persistent_fits(7, 33, -1), cuda::InvalidArgument);
  EXPECT_THROW(cuda::lstm_layer_backward_persistent_fits(7, 33, 34), cuda::InvalidArgument);
  const LayerProblem P = float_problem(LayerShape{2, 3, 4, 5, true, false});
  RunOpts o = persistent_bwd_opts();
  o.units_per_cta = 6;  // > H
  EXPECT_THROW(run_cuda(P, o), cuda::InvalidArgument);
}

// The fits check agrees with the documented plan: U = ceil(H / #SMs) units per CTA,
// 4*(4UH + 2BU) bytes of shared memory per CTA, which must fit the opt-in limit (with
// <= 128 registers x 256 threads one CTA per SM is always co-resident); on an H100
// (132 SMs, 227 KB) the seed shape, H 512 B 64 and H 1024 B 64 fit.
TEST_F(PersistentBackwardMisc, FitsFollowsSharedMemoryFormula) {
  int dev = 0, sms = 0, optin = 0, coop = 0;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev), cudaSuccess);
  std::printf("device: %d SMs, %d bytes opt-in shared memory per block, cooperative %d\n", sms,
              optin, coop);
  for (const auto& [B, H] : std::vector<std::pair<int, int>>{{32, 200},
                                                             {64, 512},
                                                             {64, 1024},
                                                             {1, 1},
                                                             {7, 257},
                                                             {3, 1200},
                                                             {64, 2048},
                                                             {1, 4096},
                                                             {4096, 256}}) {
    const int64_t U = (H + sms - 1) / sms;
    const int64_t smem = 4 * (U * 4 * H + 2 * int64_t(B) * U);
    const bool want = coop && smem <= optin;
    EXPECT_EQ(cuda::lstm_layer_backward_persistent_fits(B, H), want)
        << "B=" << B << " H=" << H << " U=" << U << " smem=" << smem;
    std::printf("B=%d H=%d: U=%lld, %lld bytes of shared memory per CTA, fits %d\n", B, H,
                static_cast<long long>(U), static_cast<long long>(smem), int(want));
  }
  if (sms >= 132 && optin >= 227 * 1024 && coop) {  // H100 SXM and larger
    EXPECT_TRUE(cuda::lstm_layer_backward_persistent_fits(32, 200));
    EXPECT_TRUE(cuda::lstm_layer_backward_persistent_fits(64, 512));
    EXPECT_TRUE(cuda::lstm_layer_backward_persistent_fits(64, 1024));
  }
  EXPECT_THROW(cuda::lstm_layer_backward_persistent_fits(0, 8), cuda::InvalidArgument);
  EXPECT_THROW(cuda::lstm_layer_backward_persistent_fits(8, 0), cuda::InvalidArgument);
}

// A shape that cannot fit (H 4096: >= 2 MB of R rows per CTA on any current GPU): fits() is
// false and the launcher throws InvalidArgument naming the problem, with valid buffers.
TEST_F(PersistentBackwardMisc, DoesNotFitThrowsInvalidArgument) {
  const int T = 1, B = 1, I = 1, H = 4096, G = 4 * H;
  ASSERT_FALSE(cuda::lstm_layer_backward_persistent_fits(B, H));
  cuda::DeviceContext dc(cuda::GemmMath::kFp32);
  const size_t BH = size_t(B) * H, N = size_t(T) * B;
  cuda::DeviceBuffer<float> x(N * I), W(size_t(I) * G), R(size_t(H) * G), p(3 * size_t(H)), h0(BH),
      c0(BH), hs(N * H), cs(N * H), gates(N * G), dhs(N * H), dW(size_t(I) * G), dR(size_t(H) * G),
      db(G), dp(3 * size_t(H)), ws(cuda::lstm_layer_bwd_workspace_floats(T, B, H));
  LayerBwdArgs a;
  a.T = T;
  a.B = B;
  a.I = I;
  a.H = H;
  a.x = x.get();
  a.W = W.get();
  a.R = R.get();
  a.p = p.get();
  a.h0 = h0.get();
  a.c0 = c0.get();
  a.hs = hs.get();
  a.cs = cs.get();
  a.gates = gates.get();
  a.dhs = dhs.get();
  a.dW = dW.get();
  a.dR = dR.get();
  a.db = db.get();
  a.dp = dp.get();
  a.workspace = ws.get();
  try {
    cuda::lstm_layer_backward_persistent(a, dc.exec());
    dc.synchronize();
    FAIL() << "no exception for a shape that does not fit";
  } catch (const cuda::InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cuda::lstm_layer_backward_persistent"), std::string::npos) << what;
    EXPECT_NE(what.find("does not fit"), std::string::npos) << what;
    EXPECT_NE(what.find("H=4096"), std::string::npos) << what;
  }
}

// Runs without a device (no fixture): the launcher checks its arguments first.
TEST(PersistentBackwardArgs, ValidatesBeforeTouchingTheDevice) {
  LayerBwdArgs a;  // all null, sizes 0
  EXPECT_THROW(cuda::lstm_layer_backward_persistent(a, {}), cuda::InvalidArgument);
  float f = 0;  // stands in for every buffer: validation must throw before any use
  int32_t sym = 0;
  a.T = 2;
  a.B = 3;
  a.I = 4;
  a.H = 5;
  a.x = a.W = a.R = a.p = a.h0 = a.c0 = a.hs = a.cs = a.gates = a.dhs = &f;
  a.dW = a.dR = a.db = a.dp = a.workspace = &f;
  auto expect_invalid = [&](const LayerBwdArgs& args, const cuda::ExecContext& ctx,
                            const char* needle) {
    try {
      cuda::lstm_layer_backward_persistent(args, ctx);
      ADD_FAILURE() << "no exception, expected one mentioning '" << needle << "'";
    } catch (const cuda::InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_invalid(a, {}, "ExecContext.blas");  // everything else valid
  cuda::ExecContext fake;
  fake.blas = reinterpret_cast<cuda::BlasHandle>(&f);  // never used: an argument is bad
  LayerBwdArgs b = a;
  b.dp = nullptr;
  expect_invalid(b, fake, "dp must be non-null");
  b = a;
  b.workspace = nullptr;
  expect_invalid(b, fake, "workspace");
  b = a;
  b.x = nullptr;
  b.symbols = &sym;
  b.dx = &f;
  expect_invalid(b, fake, "dx needs a dense input");
  b = a;
  b.symbols = &sym;  // both inputs
  expect_invalid(b, fake, "exactly one of symbols");
  b = a;
  b.H = 0;
  expect_invalid(b, fake, "must be >= 1");
}

// ---- Variant (c) forward: the split-k persistent kernel ------------------------------------

struct FwdResult {
  std::vector<float> hs, cs, gates;
  bool operator==(const FwdResult&) const = default;
};

// Variant (c) forward alone. misalign: h0 and hs start 4 bytes past a 16-byte boundary
// (the kernel's scalar copy path; with H % 4 == 0 the float4 path is taken otherwise).
FwdResult run_splitk_forward(const LayerProblem& P, const cuda::PersistentSplitKOptions& opt,
                             bool training = true, bool misalign = false,
                             cuda::GemmMath math = cuda::GemmMath::kFp32) {
  const auto& s = P.s;
  const size_t T = s.T, B = s.B, H = s.H, G = 4 * H, off = misalign ? 1 : 0;
  cuda::DeviceContext dc(math);
  auto d_sym = to_device(P.symbols);
  auto d_x = to_device(cast<float>(P.x)), d_W = to_device(cast<float>(P.W)),
       d_R = to_device(cast<float>(P.R)), d_b = to_device(cast<float>(P.b)),
       d_p = to_device(cast<float>(P.p)), d_c0 = to_device(cast<float>(P.c0));
  std::vector<float> h0(off + B * H, 0.f);
  std::copy(P.h0.begin(), P.h0.end(), h0.begin() + off);
  auto d_h0 = to_device(h0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  cuda::DeviceBuffer<float> hs(std::vector<float>(off + T * B * H, nan)),
      cs(std::vector<float>(T * B * H, nan)), gates(T * B * G);
  LayerFwdArgs f;
  f.T = s.T;
  f.B = s.B;
  f.I = s.I;
  f.H = s.H;
  f.peephole = s.peephole;
  f.training = training;
  f.symbols = s.onehot ? d_sym.get() : nullptr;
  f.x = s.onehot ? nullptr : d_x.get();
  f.W = d_W.get();
  f.R = d_R.get();
  f.b = d_b.get();
  f.p = s.peephole ? d_p.get() : nullptr;
  f.h0 = d_h0.get() + off;
  f.c0 = d_c0.get();
  f.hs = hs.get() + off;
  f.cs = cs.get();
  f.gates = gates.get();
  cuda::lstm_layer_forward_persistent_splitk(f, dc.exec(), opt);
  dc.synchronize();
  auto h = hs.download();
  h.erase(h.begin(), h.begin() + off);
  return {h, cs.download(), training ? gates.download() : std::vector<float>{}};
}

// Forward tensors against ref<double> (scale 1) or against another fp32 variant (scale 2:
// both lie within one budget of the reference).
void compare_forward(const LayerProblem& P, const Refs& r, const FwdResult& got,
                     const FwdResult* other = nullptr, const char* other_name = "") {
  const auto& s = P.s;
  const int64_t T = s.T, B = s.B, H = s.H, G = 4 * H;
  auto check = [&](const std::vector<float>& a, const std::vector<float>* b,
                   const std::vector<float>& f, const std::vector<double>& d, const char* name,
                   const std::vector<int64_t>& dims) {
    const double atol = test::calibrated_atol(f, d, 1e-5);
    if (b)
      expect_allclose(a, *b, 2 * atol, 2e-4, std::string("(c) vs ") + other_name + " " + name,
                      dims);
    else
      expect_allclose(a, d, atol, 1e-4, name, dims);
  };
  check(got.hs, other ? &other->hs : nullptr, r.of.hs, r.od.hs, "hs", {T, B, H});
  check(got.cs, other ? &other->cs : nullptr, r.of.cs, r.od.cs, "cs", {T, B, H});
  if (!got.gates.empty())
    check(got.gates, other ? &other->gates : nullptr, r.of.gates, r.od.gates, "gates", {T, B, G});
  EXPECT_GT(test::norm2(got.hs), 0.0);
}

class PersistentSplitK : public test::CudaParamTest<LayerShape> {};

// One test per shape: forward (c) + backward (a) against ref<double> on every tensor; repeat
// runs bitwise equal; forward (c) against forward (a) and (b) on the GPU; inference and the
// scalar copy path bitwise equal to the training run; a TF32 input projection.
TEST_P(PersistentSplitK, MatchesReferenceAndVariantsAB) {
  const LayerProblem P = float_problem(GetParam());
  if (!cuda::lstm_layer_forward_persistent_fits(P.s.B, P.s.H, cuda::PersistentFwd::kC))
    GTEST_SKIP() << "variant (c) does not fit B=" << P.s.B << " H=" << P.s.H
                 << " on this device (PersistentSplitKMisc.FitsFollowsGeometry checks that this "
                    "is right)";
  const Refs r(P);
  RunOpts o;
  o.splitk_fwd = true;
  const auto got = run_cuda(P, o);
  {
    SCOPED_TRACE("forward (c) + backward (a) vs ref<double>, exact fp32");
    compare(P, r, got, /*tf32=*/false);
  }
  EXPECT_TRUE(got == run_cuda(P, o)) << "repeat run is not bitwise equal";
  const FwdResult c{got.hs, got.cs, got.gates};
  {
    SCOPED_TRACE("forward (c) vs forward (a) on the GPU");
    const auto a = run_cuda(P, cuda::GemmMath::kFp32);
    const FwdResult fa{a.hs, a.cs, a.gates};
    compare_forward(P, r, c, &fa, "(a)");
  }
  if (cuda::lstm_layer_forward_persistent_fits(P.s.B, P.s.H, cuda::PersistentFwd::kB)) {
    SCOPED_TRACE("forward (c) vs forward (b) on the GPU");
    const auto b = run_cuda(P, cuda::GemmMath::kFp32, false, /*persistent=*/true);
    const FwdResult fb{b.hs, b.cs, b.gates};
    compare_forward(P, r, c, &fb, "(b)");
  }
  {
    SCOPED_TRACE("inference: the training run's h and c, bitwise");
    const auto inf = run_splitk_forward(P, {}, /*training=*/false);
    EXPECT_EQ(inf.hs, c.hs);
    EXPECT_EQ(inf.cs, c.cs);
  }
  {
    SCOPED_TRACE("misaligned h0/hs (scalar copy path): bitwise equal");
    EXPECT_TRUE(run_splitk_forward(P, {}, true, /*misalign=*/true) == c);
  }
  {
    SCOPED_TRACE("TF32 input projection");
    RunOpts ot = o;
    ot.math = cuda::GemmMath::kTf32;
    compare(P, r, run_cuda(P, ot), /*tf32=*/true);
  }
}

// Shapes: as LayerCuda (odd sizes, T in {1,2,37}, B in {1,7}, H in {1,3,33,257}, one-hot and
// dense, peepholes on/off, both seed layers), plus H 200 with B 1 and 3, H 202 (not a multiple
// of 4 or 8: scalar copies), H 512 B 64 (4 lanes per task) and H 1024 B 64 (batch tiles).
INSTANTIATE_TEST_SUITE_P(
    Shapes, PersistentSplitK,
    ::testing::Values(LayerShape{1, 1, 1, 1, true, false}, LayerShape{2, 7, 3, 3, true, false},
                      LayerShape{37, 7, 5, 33, true, false},
                      LayerShape{37, 1, 33, 33, false, false},
                      LayerShape{2, 7, 257, 257, true, false},
                      LayerShape{37, 7, 17, 257, true, true}, LayerShape{1, 7, 80, 33, false, true},
                      LayerShape{37, 1, 59, 3, true, true}, LayerShape{9, 1, 80, 200, true, true},
                      LayerShape{9, 3, 13, 200, true, false}, LayerShape{5, 7, 5, 202, true, false},
                      LayerShape{3, 64, 16, 512, true, false},
                      LayerShape{2, 64, 16, 1024, true, false},
                      LayerShape{50, 32, 80, 200, true, true},     // seed layer 0
                      LayerShape{50, 32, 200, 200, true, false}),  // seed layer 1
    [](const auto& info) { return info.param.name(); });

class PersistentSplitKMisc : public test::CudaTest {};

// Units per CTA and batch tiles chosen by the caller: one CTA, partial last CTAs, several
// tiles per step with a padded last tile; each against ref<double>, repeat runs bitwise equal.
TEST_F(PersistentSplitKMisc, ChosenUnitsAndTiles) {
  for (const auto& shape :
       {LayerShape{5, 7, 5, 33, true, false}, LayerShape{3, 33, 5, 33, false, true},
        LayerShape{2, 32, 9, 200, true, false}}) {
    const LayerProblem P = float_problem(shape);
    SCOPED_TRACE(P.s.name());
    const Refs r(P);
    for (const int U : {1, 2, 3, 5, 10, 33, 200})
      for (const int tile : {0, 4, 8, 12}) {
        if (U > P.s.H) continue;
        const cuda::PersistentSplitKOptions opt{U, tile};
        SCOPED_TRACE("units_per_cta " + std::to_string(U) + " batch_tile " + std::to_string(tile));
        if (!cuda::lstm_layer_forward_persistent_splitk_fits(P.s.B, P.s.H, opt)) {
          std::printf("%s: U=%d tile=%d does not fit on this device: not tested\n",
                      P.s.name().c_str(), U, tile);
          continue;
        }
        const auto got = run_splitk_forward(P, opt);
        compare_forward(P, r, got);
        EXPECT_TRUE(got == run_splitk_forward(P, opt)) << "repeat run is not bitwise equal";
      }
  }
}

// fits() agrees with the geometry of kernels/lstm_layer_persistent_splitk.h on this device
// (one 256-thread CTA per SM is always co-resident at <= 255 registers); on an H100 the seed
// shape, H 512 B 64 and H 1024 B 64 (tiled) fit.
TEST_F(PersistentSplitKMisc, FitsFollowsGeometry) {
  int dev = 0, sms = 0, optin = 0, coop = 0;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev), cudaSuccess);
  for (const auto& [B, H] : std::vector<std::pair<int, int>>{
           {32, 200}, {64, 512}, {64, 1024}, {1, 1}, {7, 257}, {3, 1200}, {64, 2048}, {1, 4096}}) {
    const auto g = splitk::make_geometry(B, H, sms, static_cast<std::size_t>(optin));
    const bool want = coop && g.why_not.empty();
    EXPECT_EQ(cuda::lstm_layer_forward_persistent_splitk_fits(B, H), want)
        << "B=" << B << " H=" << H << " " << g.why_not;
    EXPECT_EQ(cuda::lstm_layer_forward_persistent_fits(B, H, cuda::PersistentFwd::kC), want);
    std::printf("B=%d H=%d: U=%d Hp=%d Bt=%d tiles=%d L=%d, %zu bytes per CTA, fits %d\n", B, H,
                g.U, g.Hp, g.Bt, g.tiles, g.L, g.smem_bytes, int(want));
  }
  if (sms >= 132 && optin >= 227 * 1024 && coop) {  // H100 SXM and larger
    EXPECT_TRUE(cuda::lstm_layer_forward_persistent_splitk_fits(32, 200));
    EXPECT_TRUE(cuda::lstm_layer_forward_persistent_splitk_fits(64, 512));
    EXPECT_TRUE(cuda::lstm_layer_forward_persistent_splitk_fits(64, 1024));
  }
}

// H 4096: the R slice alone exceeds any current GPU's shared memory per CTA.
TEST_F(PersistentSplitKMisc, DoesNotFitThrowsInvalidArgument) {
  const LayerProblem P = float_problem(LayerShape{1, 1, 1, 4096, true, false});
  ASSERT_FALSE(cuda::lstm_layer_forward_persistent_splitk_fits(1, 4096));
  try {
    run_splitk_forward(P, {});
    FAIL() << "no exception for a shape that does not fit";
  } catch (const cuda::InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cuda::lstm_layer_forward_persistent_splitk"), std::string::npos) << what;
    EXPECT_NE(what.find("does not fit"), std::string::npos) << what;
    EXPECT_NE(what.find("H=4096"), std::string::npos) << what;
  }
}

// Runs without a device (no fixture): arguments, options and the math mode are checked
// before the device is touched.
TEST(PersistentSplitKArgs, ValidatesBeforeTouchingTheDevice) {
  LayerFwdArgs a;  // all null, sizes 0
  EXPECT_THROW(cuda::lstm_layer_forward_persistent_splitk(a, {}), cuda::InvalidArgument);
  EXPECT_THROW(cuda::lstm_layer_forward_persistent(a, {}, cuda::PersistentFwd::kC),
               cuda::InvalidArgument);
  float f = 0;  // stands in for every buffer: validation must throw before any use
  a.T = 2;
  a.B = 3;
  a.I = 4;
  a.H = 5;
  a.x = a.W = a.R = a.b = a.p = a.h0 = a.c0 = &f;
  a.hs = a.cs = a.gates = &f;
  auto expect_invalid = [&](const LayerFwdArgs& args, const cuda::ExecContext& ctx,
                            const cuda::PersistentSplitKOptions& opt, const char* needle) {
    try {
      cuda::lstm_layer_forward_persistent_splitk(args, ctx, opt);
      ADD_FAILURE() << "no exception, expected one mentioning '" << needle << "'";
    } catch (const cuda::InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  cuda::ExecContext fake;
  fake.math = cuda::GemmMath::kFp32;
  expect_invalid(a, fake, {0, 3}, "batch_tile");
  expect_invalid(a, fake, {-1, 0}, "units_per_cta");
  expect_invalid(a, fake, {6, 0}, "units_per_cta");  // > H
  fake.math = cuda::GemmMath::kBf16;
  expect_invalid(a, fake, {}, "bf16");
  fake.math = cuda::GemmMath::kFp32;
  expect_invalid(a, fake, {}, "ExecContext.blas");  // dense input, everything else valid
  LayerFwdArgs b = a;
  b.gates = nullptr;
  expect_invalid(b, fake, {}, "gates must be non-null");
  EXPECT_THROW(cuda::lstm_layer_forward_persistent_splitk_fits(0, 8), cuda::InvalidArgument);
  EXPECT_THROW(cuda::lstm_layer_forward_persistent_splitk_fits(8, 8, {9, 0}),
               cuda::InvalidArgument);
  EXPECT_THROW(cuda::lstm_layer_forward_persistent_splitk_fits(8, 8, {0, 6}),
               cuda::InvalidArgument);
  EXPECT_THROW(cuda::lstm_layer_forward_persistent_fits(8, 8, static_cast<cuda::PersistentFwd>(7)),
               cuda::InvalidArgument);
}

}  // namespace
}  // namespace melodl
