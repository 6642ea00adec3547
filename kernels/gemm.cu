// kernels/gemm.cu: row-major GEMM over cuBLAS. A row-major [M,N] matrix is the same memory
// as a column-major [N,M] one, so C = op(A) op(B) (row-major) is computed as the
// column-major C^T = op(B)^T op(A)^T: swap the operands and M/N, keep the transposes.
// Math mode per call via cublasSetMathMode: CUBLAS_TF32_TENSOR_OP_MATH (default) or
// CUBLAS_PEDANTIC_MATH (exact fp32, also immune to NVIDIA_TF32_OVERRIDE).
#include "kernels/cuda_check.cuh"
#include "kernels/gemm.h"

namespace melodl::cuda {

void gemm(const ExecContext& ctx, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
          const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  constexpr const char* kWhere = "cuda::gemm";
  require(M >= 0 && N >= 0 && K >= 0, kWhere, "M, N, K must be >= 0");
  if (M == 0 || N == 0) return;
  require(ctx.blas != nullptr, kWhere, "ExecContext.blas must be set");
  require(C != nullptr && (K == 0 || (A != nullptr && B != nullptr)), kWhere, "null pointer");
  require(ldc >= N, kWhere, "ldc must be >= N");
  require(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N), kWhere,
          "lda/ldb smaller than the row length");
  MELODL_CUBLAS_CHECK(cublasSetStream(ctx.blas, ctx.stream));
  MELODL_CUBLAS_CHECK(cublasSetMathMode(
      ctx.blas, ctx.math == GemmMath::kTf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
  if (K == 0) {  // op(A) op(B) is all zeros: C = beta * C, without touching A or B
    if (beta == 0.f) {
      MELODL_CUDA_CHECK(
          cudaMemset2DAsync(C, ldc * sizeof(float), 0, N * sizeof(float), M, ctx.stream));
    } else if (beta != 1.f) {
      const float zero = 0.f;
      MELODL_CUBLAS_CHECK(cublasSgeam(ctx.blas, CUBLAS_OP_N, CUBLAS_OP_N, N, M, &beta, C, ldc,
                                      &zero, C, ldc, C, ldc));
    }
    return;
  }
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  MELODL_CUBLAS_CHECK(
      cublasSgemm(ctx.blas, op_b, op_a, N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc));
}

}  // namespace melodl::cuda
