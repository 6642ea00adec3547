// kernels/optim.h: one fused optimiser step over a flat parameter buffer, with optional
// global-norm gradient clipping. CUDA-free. Spec: kernels/optim_ref.cpp.
// Tests: tests/kernels/optim_ref_test.cpp (hand-computed values), optim_cuda_test.cpp.
//
// Decoupled weight decay (AdamW): every kind first sets w *= 1 - lr*weight_decay where l2_mask
// is null or l2_mask[k] != 0 (the rule below sees the decayed w). Then every kind forms
// g' = grad_scale * g; norm = ||g'||_2 over all n elements; when
// clip_norm > 0 and norm > clip_norm, g' *= clip_norm / norm. Then, per element
// (l2w = l2 * w where l2_mask is null or l2_mask[k] != 0, else 0):
//   kRmsPropDl4j (DL4J 0.8/0.9 order, docs: original-system.md 3.3):
//        v = rho v + (1-rho) g'^2;  u = lr g' / (sqrt(v) + eps);  u += l2w;
//        u /= minibatch;  w -= u
//   kRmsProp (standard):  g'' = g' + l2w;  v = rho v + (1-rho) g''^2;
//        w -= lr g'' / (sqrt(v) + eps)
//   kAdam (standard, coupled L2):  g'' = g' + l2w;  m = beta1 m + (1-beta1) g'';
//        v = beta2 v + (1-beta2) g''^2;  w -= lr (m / (1-beta1^step)) /
//        (sqrt(v / (1-beta2^step)) + eps)
//   kSgdMomentum:  g'' = g' + l2w;  m = momentum m + g'';  w -= lr m   (m may be null when
//        momentum == 0: w -= lr g'')
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace melodl {

enum class OptimKind { kSgdMomentum, kRmsPropDl4j, kRmsProp, kAdam };

template <typename Scalar>
struct OptimArgsT {
  OptimKind kind = OptimKind::kRmsPropDl4j;
  int64_t n = 0;
  Scalar* w = nullptr;               // [n] parameters, updated in place
  const Scalar* g = nullptr;         // [n] gradients (not modified)
  Scalar* m = nullptr;               // [n] momentum / Adam first moment (SGD, Adam)
  Scalar* v = nullptr;               // [n] RMSProp cache / Adam second moment
  const uint8_t* l2_mask = nullptr;  // [n] 1 = weight (gets l2), 0 = bias; null = all weights
  Scalar lr = Scalar(0.1);
  Scalar l2 = 0;
  Scalar weight_decay = 0;    // decoupled: w *= 1 - lr*weight_decay on weights first; 0 = off
  Scalar rho = Scalar(0.95);  // RMSProp decay (DL4J rmsDecay)
  Scalar eps = Scalar(1e-8);
  Scalar beta1 = Scalar(0.9), beta2 = Scalar(0.999);
  int64_t step = 1;  // Adam: 1-based step count for bias correction
  Scalar momentum = Scalar(0.9);
  Scalar minibatch = 1;         // DL4J: the update is divided by the minibatch size
  Scalar grad_scale = 1;        // multiplies g first (e.g. 1/minibatch for standard kinds)
  Scalar clip_norm = 0;         // <= 0: no clipping
  Scalar* norm_out = nullptr;   // [1] out or null: ||grad_scale * g|| before clipping
  Scalar* workspace = nullptr;  // CUDA: [cuda::kSumWorkspaceFloats + 1]
};
using OptimArgs = OptimArgsT<float>;

template <typename Scalar>
void validate(const OptimArgsT<Scalar>& a, const char* where) {
  cuda::require(a.n >= 0, where, "n must be >= 0");
  if (a.n == 0) return;
  cuda::require(a.w && a.g, where, "w and g must be non-null");
  const bool need_m =
      a.kind == OptimKind::kAdam || (a.kind == OptimKind::kSgdMomentum && a.momentum != Scalar(0));
  const bool need_v = a.kind != OptimKind::kSgdMomentum;
  cuda::require(!need_m || a.m, where, "m must be non-null for this optimiser");
  cuda::require(!need_v || a.v, where, "v must be non-null for this optimiser");
  cuda::require(a.kind != OptimKind::kAdam || a.step >= 1, where, "Adam step must be >= 1");
  cuda::require(a.weight_decay >= Scalar(0), where, "weight_decay must be >= 0");
  cuda::require(a.kind != OptimKind::kRmsPropDl4j || a.minibatch > Scalar(0), where,
                "minibatch must be > 0");
}

namespace cuda {
// One launch for the update (two more when the norm is needed). The norm stays on the
// device; no host synchronisation. Deterministic.
void optim_step(const OptimArgs& a, const ExecContext& ctx);
}  // namespace cuda

namespace ref {
template <typename Scalar>
void optim_step(const OptimArgsT<Scalar>& a);
}  // namespace ref

}  // namespace melodl
