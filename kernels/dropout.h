// kernels/dropout.h: the elementwise product with a dropout mask (values 0 or 1/(1-p), drawn on
// the host by the Trainer, docs/training.md "Regularisation and schedule"): out[k] = x[k] *
// mask[k], for a layer's output in the forward and for its gradient in the backward alike. out may
// be x (in place). CUDA-free. Spec: kernels/dropout_ref.cpp. Tests:
// tests/kernels/optim_ref_test.cpp (ref), softmax_optim_cuda_test.cpp (CUDA against the ref,
// exact).
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace melodl {

namespace cuda {
// One launch, enqueued on ctx.stream; exact (one float multiply per element).
void apply_mask(const float* x, const float* mask, float* out, int64_t n, const ExecContext& ctx);
}  // namespace cuda

namespace ref {
void apply_mask(const float* x, const float* mask, float* out, int64_t n);
}  // namespace ref

}  // namespace melodl
