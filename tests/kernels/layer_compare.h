// tests/kernels/layer_compare.h: how a layer implementation's results are compared with
// the references of one LayerProblem, shared by kernels_cuda_test (the CUDA layer,
// tests/kernels/lstm_layer_cuda_test.cpp) and kernels_ref_test (the same harness on the
// CPU, tests/kernels/lstm_layer_ref_test.cpp). CUDA-free.
//   LayerRefs           ref<double> and ref<float> forward and backward of a problem, built
//                       once (the seed shape takes seconds in double); LayerRefs::builds
//                       counts constructions so a test can check each shape builds them once.
//   compare()           every output tensor against the references: exact fp32 at the
//                       self-calibrating tolerance (style.md 2.6), TF32 at the bound derived
//                       from the math mode and the shape (tests/kernels/tolerance.h).
//   check_every_mode()  one shape in every mode (exact fp32, TF32, the persistent forward when
//                       it fits), each run twice (bitwise repeatable), all against one
//                       LayerRefs.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "kernels/common.h"
#include "tests/kernels/layer_fixture.h"
#include "tests/kernels/test_util.h"
#include "tests/kernels/tolerance.h"

namespace melodl::test {

struct CudaLayerResult {
  std::vector<float> hs, cs, gates, dW, dR, db, dp, dx, dh0, dc0;
  bool operator==(const CudaLayerResult&) const = default;
};

// The references of one problem, computed once.
struct LayerRefs {
  inline static int builds = 0;  // constructions, for the tests of this harness
  LayerProblem::Outputs<double> od;
  LayerProblem::Outputs<float> of;
  LayerProblem::Grads<double> gd;
  LayerProblem::Grads<float> gf;
  explicit LayerRefs(const LayerProblem& P)
      : od(P.forward_ref<double>()),
        of(P.forward_ref<float>()),
        gd(P.backward_ref<double>(od)),
        gf(P.backward_ref<float>(of)) {
    ++builds;
  }
};

// Gradient tolerance for fp32 against ref<double> (style.md 2.6).
inline double grad_atol(const std::vector<float>& f, const std::vector<double>& d) {
  return calibrated_atol(f, d, 1e-4);
}

// TF32: the layer's pre-activation error (tolerance.h; weights U(+-1/sqrt(H)), x U(-1,1),
// one-hot input exact) times kForwardGain for h, c and the gates; times kGradientGain
// relative to each gradient tensor's largest entry. Never below the fp32 bound.
inline void compare(const LayerProblem& P, const LayerRefs& r, const CudaLayerResult& got,
                    bool tf32) {
  const auto& s = P.s;
  const int64_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
  const double ez = preactivation_error(MathMode::kTf32, s.H, s.onehot ? 0 : s.I);
  auto check = [&](const std::vector<float>& a, const std::vector<float>& f,
                   const std::vector<double>& d, bool grad, const char* name,
                   const std::vector<int64_t>& dims) {
    const double floor = grad ? 1e-4 : 1e-5, rtol = grad ? 1e-3 : 1e-4;
    double atol = calibrated_atol(f, d, floor), rt = rtol;
    if (tf32) {
      double scale = 1;
      if (grad)
        for (double v : d) scale = std::max(scale, std::abs(v));
      const double e = (grad ? kGradientGain : kForwardGain) * ez;
      atol = std::max(atol, e * scale);
      rt = std::max(rt, e);
    }
    expect_allclose(a, d, atol, rt, name, dims);
  };
  check(got.hs, r.of.hs, r.od.hs, false, "hs", {T, B, H});
  check(got.cs, r.of.cs, r.od.cs, false, "cs", {T, B, H});
  check(got.gates, r.of.gates, r.od.gates, false, "gates", {T, B, G});
  check(got.dW, r.gf.dW, r.gd.dW, true, "dW", {I, G});
  check(got.dR, r.gf.dR, r.gd.dR, true, "dR", {H, G});
  check(got.db, r.gf.db, r.gd.db, true, "db", {G});
  if (s.peephole) check(got.dp, r.gf.dp, r.gd.dp, true, "dp", {3, H});
  if (!s.onehot) check(got.dx, r.gf.dx, r.gd.dx, true, "dx", {T, B, I});
  if (!got.dh0.empty()) check(got.dh0, r.gf.dh0, r.gd.dh0, true, "dh0", {B, H});
  if (!got.dc0.empty()) check(got.dc0, r.gf.dc0, r.gd.dc0, true, "dc0", {B, H});
  EXPECT_GT(norm2(got.hs), 0.0);
  EXPECT_GT(norm2(got.dR), 0.0);
  EXPECT_GT(norm2(got.dW), 0.0);
}

// Every mode of one shape against one set of references. run(math, persistent_forward)
// runs the layer forward and backward; persistent_fits says whether variant (b)'s forward
// runs this shape.
template <typename Run>
void check_every_mode(const LayerProblem& P, Run&& run, bool persistent_fits) {
  const LayerRefs r(P);
  {
    SCOPED_TRACE("exact fp32 GEMMs");
    const auto got = run(cuda::GemmMath::kFp32, false);
    compare(P, r, got, /*tf32=*/false);
    EXPECT_TRUE(got == run(cuda::GemmMath::kFp32, false)) << "repeat run is not bitwise equal";
  }
  {
    SCOPED_TRACE("TF32 GEMMs");
    const auto got = run(cuda::GemmMath::kTf32, false);
    compare(P, r, got, /*tf32=*/true);
    EXPECT_TRUE(got == run(cuda::GemmMath::kTf32, false)) << "repeat run is not bitwise equal";
  }
  if (persistent_fits) {
    SCOPED_TRACE("persistent forward (variant b), exact fp32");
    const auto got = run(cuda::GemmMath::kFp32, true);
    compare(P, r, got, /*tf32=*/false);  // forward from (b); gradients from (a) on its activations
    EXPECT_TRUE(got == run(cuda::GemmMath::kFp32, true)) << "repeat run is not bitwise equal";
  } else {
    std::printf("variant (b) does not fit B=%d H=%d on this device: not tested\n", P.s.B, P.s.H);
  }
}

}  // namespace melodl::test
