// kernels/sample.h: batched sampling of the next symbol from logits with a temperature, for
// composing (one draw per batch row). The random numbers come from the caller (u [B] in
// [0,1)), so a run is reproducible and identical on CPU and GPU up to rounding at CDF
// boundaries. CUDA-free. Spec: kernels/sample_ref.cpp.
// Tests: tests/kernels/ref_basics_test.cpp (reference), basics_cuda_test.cpp (GPU).
//   p_v = exp((z_v - max z) / temperature);  out[b] = the smallest k with
//   sum_{v<=k} p_v > u_b * sum_v p_v  (inverse-CDF sampling; V-1 if rounding leaves none).
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace melodl {

template <typename Scalar>
struct SampleArgsT {
  int B = 0, V = 0;
  const Scalar* logits = nullptr;  // [B,V]
  Scalar temperature = 1;          // > 0; < 1 sharpens, > 1 flattens
  const Scalar* u = nullptr;       // [B] uniform random numbers in [0,1)
  int32_t* out = nullptr;          // [B] out: sampled symbols in [0,V)
};
using SampleArgs = SampleArgsT<float>;

template <typename Scalar>
void validate(const SampleArgsT<Scalar>& a, const char* where) {
  cuda::require(a.B >= 0 && a.V >= 1, where, "B must be >= 0 and V >= 1");
  cuda::require(a.temperature > Scalar(0), where, "temperature must be > 0");
  cuda::require(a.B == 0 || (a.logits && a.u && a.out), where, "logits, u, out must be non-null");
}

namespace cuda {
// One warp per row; deterministic. Enqueued on ctx.stream.
void sample(const SampleArgs& a, const ExecContext& ctx);
}  // namespace cuda

namespace ref {
template <typename Scalar>
void sample(const SampleArgsT<Scalar>& a);
}  // namespace ref

}  // namespace melodl
