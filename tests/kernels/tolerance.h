// tests/kernels/tolerance.h: test tolerances derived from the math mode and the shape
// (docs/kernels.md "Tolerance policy"), shared by the kernel tests (tests/kernels) and the
// CUDA backend tests (tests/lstm). CUDA-free.
//
// Model. A matrix product in math mode m rounds each operand to m's format before the
// product (relative error <= u(m) each, so <= 2u per product) and sums in fp32. For a
// K-term dot product whose terms are bounded by |a_k b_k| <= ab, the rounding errors have
// random signs, so they add like a random walk: |error| <~ 2 u sqrt(K) ab, plus the fp32
// accumulation (<~ K u32 ab, pessimistic). dot_error() is that estimate; each test
// multiplies it by a gain that covers how the error propagates (a layer over T steps, the
// backward) and a tail margin, written beside its use. Exact-fp32 comparisons keep the
// self-calibrating bound of style.md 2.6 (4x the error of ref<float> against ref<double>,
// which follows the shape by construction) as their floor.
#pragma once
#include <cmath>
#include <string>

namespace melodl::test {

enum class MathMode { kFp32, kTf32, kBf16 };

inline MathMode math_mode(const std::string& name) {
  return name == "tf32" ? MathMode::kTf32 : name == "bf16" ? MathMode::kBf16 : MathMode::kFp32;
}

constexpr double kFp32Unit = 0x1p-24;  // fp32 rounding to nearest

// Relative error of one operand as a GEMM in mode m sees it. TF32 keeps 10 explicit
// mantissa bits: 2^-11 when rounded to nearest, 2^-10 when the conversion truncates (allowed:
// cuBLAS and CUTLASS do either), so 2^-10. bf16: 8 significant bits, round to nearest even.
inline double operand_unit(MathMode m) {
  switch (m) {
    case MathMode::kTf32:
      return 0x1p-10;
    case MathMode::kBf16:
      return 0x1p-8;
    case MathMode::kFp32:
      break;
  }
  return kFp32Unit;
}

// Expected error of a K-term dot product with terms bounded by ab (see the model above).
inline double dot_error(MathMode m, double K, double ab) {
  return ab * (2 * operand_unit(m) * std::sqrt(K) + K * kFp32Unit);
}

// Pre-activation error of a GravesLSTM layer with weights |W|, |R| <= 1/sqrt(H) (the tests'
// fixtures) and |h| < 1: the recurrent product over H terms, plus a dense input over I terms
// with |x| <= xmax (one-hot inputs are a gather: exact). = 2u (1 + xmax sqrt(I/H)) + fp32.
inline double preactivation_error(MathMode m, int H, int I_dense, double xmax = 1.0) {
  const double w = 1.0 / std::sqrt(static_cast<double>(H));
  double e = dot_error(m, H, w);
  if (I_dense > 0) e += dot_error(m, I_dense, w * xmax);
  return e;
}

// Gains, calibrated on the CPU with the same operand-rounding model: the bf16 spec
// (kernels/bf16.h, rounding every product operand exactly as the model says) against exact
// math over the layer tests' shapes (T up to 50, H up to 257, both seed layers; printed by
// Bf16LayerRef.LooseToleranceHoldsOnTheCpu and .BackwardCloseToExactAndToPlainBackward)
// measures at most 0.23 x preactivation_error forward (gates of the seed's dense layer,
// 3.6e-3) and 0.32 x it for gradients as relative Frobenius norms (dh0 of the seed's one-hot
// layer, 2.5e-3). The recurrence does not amplify the per-step error (gate slopes <= 1,
// |f| < 1, spectral radius of R ~ 1/sqrt(3) at these scales), so it does not grow with T.
// Forward outputs (h, c, gates, logits), per layer: >= 4x the measured worst case.
constexpr double kForwardGain = 1;
// Gradients, elementwise relative to each tensor's largest entry: >= 6x the measured
// Frobenius ratio (the elementwise metric can read up to ~2x higher: >= 3x).
constexpr double kGradientGain = 2;

}  // namespace melodl::test
