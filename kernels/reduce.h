// kernels/reduce.h: deterministic reductions used by the other kernels: column sums (bias
// and peephole gradients over batch and time) and full sums (loss, squared gradient norm).
// CUDA-free. Determinism: every reduction runs in a fixed order that depends only on the
// sizes (no atomics), so repeat runs are bitwise equal on the same device. The GPU order
// differs from the reference's sequential order: compare with a tolerance.
// Spec: kernels/reduce_ref.cpp. Tests: tests/kernels/reduce_cuda_test.cpp.
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace melodl {
namespace cuda {
// Number of floats of workspace that sum() needs.
constexpr int64_t kSumWorkspaceFloats = 1024;

// out[m] = (accumulate ? out[m] : 0) + sum_n x[n,m].  x: [N,M], out: [M].
void column_sum(const float* x, int64_t N, int64_t M, float* out, bool accumulate,
                const ExecContext& ctx);
// out[0] = sum_k x[k] (squares: sum_k x[k]^2).  x: [n], workspace: [kSumWorkspaceFloats].
// out stays on the device: no host synchronisation.
void sum(const float* x, int64_t n, bool squares, float* out, float* workspace,
         const ExecContext& ctx);
}  // namespace cuda

namespace ref {
template <typename Scalar>
void column_sum(const Scalar* x, int64_t N, int64_t M, Scalar* out, bool accumulate);
template <typename Scalar>
Scalar sum(const Scalar* x, int64_t n, bool squares);
}  // namespace ref
}  // namespace melodl
