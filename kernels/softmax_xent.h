// kernels/softmax_xent.h: fused softmax + cross-entropy + gradient over N rows of V logits.
// Per row n with weight w_n (mask / per-step weight; 1 when weights is null):
//   loss_n = w_n * (logsumexp(logits_n) - logits_n[target_n])
//   dlogits_n = w_n * (softmax(logits_n) - onehot(target_n))
//   loss_sum = sum_n loss_n (deterministic order)
// Rows with w_n == 0 give loss 0 and gradient 0 whatever their target (padding may use -1).
// CUDA-free. Spec: kernels/softmax_xent_ref.cpp. Tests: tests/kernels/softmax_xent_*_test.cpp.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace melodl {

template <typename Scalar>
struct SoftmaxXentArgsT {
  int64_t N = 0;                     // rows (T*B)
  int V = 0;                         // classes
  const Scalar* logits = nullptr;    // [N,V]
  const int32_t* targets = nullptr;  // [N] in [0,V) where the weight is non-zero
  const Scalar* weights = nullptr;   // [N] or null (all 1)
  Scalar* loss_rows = nullptr;       // [N] out
  Scalar* dlogits = nullptr;         // [N,V] out or null (loss only); may alias logits
  Scalar* loss_sum = nullptr;        // [1] out or null
  Scalar* workspace = nullptr;       // CUDA: [cuda::kSumWorkspaceFloats] when loss_sum is set
};
using SoftmaxXentArgs = SoftmaxXentArgsT<float>;

namespace cuda {
// An out-of-range target with a non-zero weight yields a NaN loss row (no device exceptions).
void softmax_xent(const SoftmaxXentArgs& a, const ExecContext& ctx);
}  // namespace cuda

namespace ref {
// Throws InvalidArgument on an out-of-range target with a non-zero weight.
template <typename Scalar>
void softmax_xent(const SoftmaxXentArgsT<Scalar>& a);
}  // namespace ref

}  // namespace melodl
