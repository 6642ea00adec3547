// kernels/dropout_ref.cpp: reference of the dropout-mask product (kernels/dropout.h).
#include "kernels/dropout.h"

namespace melodl::ref {

void apply_mask(const float* x, const float* mask, float* out, int64_t n) {
  cuda::require(n >= 0, "ref::apply_mask", "n must be >= 0");
  for (int64_t k = 0; k < n; ++k) out[k] = x[k] * mask[k];
}

}  // namespace melodl::ref
