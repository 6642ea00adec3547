// kernels/gemm.h: row-major GEMM on the GPU (a wrapper over cuBLAS, which is column-major)
// and its scalar reference. CUDA-free.
//   C[M,N] = alpha * op(A) * op(B) + beta * C,  op(X) = X or X^T,
//   A: [M,K] (or [K,M] when trans_a), B: [K,N] (or [N,K] when trans_b), leading dimensions
//   lda/ldb/ldc in elements (row strides). beta == 0 overwrites C (NaNs in C are ignored).
// Precision: ctx.math (GemmMath::kTf32 by default: TF32 tensor cores, fp32 accumulation;
// kFp32: exact fp32; kBf16: A and B rounded to bf16, fp32 accumulation, fp32 C; spec
// ref::gemm_bf16 in kernels/bf16.h). cuBLAS results are bitwise reproducible run to run on
// one device. Tests: tests/kernels/basics_cuda_test.cpp, tests/kernels/bf16_cuda_test.cpp.
#pragma once
#include "kernels/common.h"

namespace melodl {
namespace cuda {
// Requires ctx.blas. Enqueued on ctx.stream (the handle is bound to it for the call).
void gemm(const ExecContext& ctx, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
          const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);
}  // namespace cuda

namespace ref {
template <typename Scalar>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, Scalar alpha, const Scalar* A, int lda,
          const Scalar* B, int ldb, Scalar beta, Scalar* C, int ldc);
}  // namespace ref
}  // namespace melodl
