// kernels/gemm.cu: row-major GEMM over cuBLAS. A row-major [M,N] matrix is the same memory
// as a column-major [N,M] one, so C = op(A) op(B) (row-major) is computed as the
// column-major C^T = op(B)^T op(A)^T: swap the operands and M/N, keep the transposes.
// The handle is bound to ctx.stream and the mode below only when they differ from its
// current settings (detail::bind_blas): no per-GEMM cublasSetStream/cublasSetMathMode.
// Math per call (GemmMath, kernels/common.h): kTf32 and kFp32 call cublasSgemm under the
// math mode CUBLAS_TF32_TENSOR_OP_MATH (default) or CUBLAS_PEDANTIC_MATH (exact fp32, also
// immune to NVIDIA_TF32_OVERRIDE). kBf16 calls cublasGemmEx on the same fp32 matrices with
// the compute type CUBLAS_COMPUTE_32F_FAST_16BF: cuBLAS down-converts A and B to bf16 for
// the tensor cores and accumulates in fp32 (its header also allows TF32 there, which only
// errs less), no extra buffers or conversion passes.
#include <string>

#include "kernels/cuda_check.cuh"
#include "kernels/gemm.h"

namespace melodl::cuda {
namespace {

// The handle's math mode for each GemmMath. kBf16's precision comes from the compute type of
// cublasGemmEx; the default mode leaves it alone (and the K == 0 cublasSgeam exact), and the
// flag keeps every partial sum (split-K included) in the fp32 accumulator.
cublasMath_t math_mode(GemmMath math) {
  switch (math) {
    case GemmMath::kTf32:
      return CUBLAS_TF32_TENSOR_OP_MATH;
    case GemmMath::kFp32:
      return CUBLAS_PEDANTIC_MATH;
    case GemmMath::kBf16:
      return static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                       CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION);
  }
  throw InvalidArgument("[cuda::gemm] unknown GemmMath " + std::to_string(static_cast<int>(math)));
}

}  // namespace

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
  detail::bind_blas(ctx.blas, ctx.stream, math_mode(ctx.math));  // only what changed
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
  if (ctx.math == GemmMath::kBf16) {
    MELODL_CUBLAS_CHECK(cublasGemmEx(ctx.blas, op_b, op_a, N, M, K, &alpha, B, CUDA_R_32F, ldb, A,
                                     CUDA_R_32F, lda, &beta, C, CUDA_R_32F, ldc,
                                     CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
  } else {
    MELODL_CUBLAS_CHECK(
        cublasSgemm(ctx.blas, op_b, op_a, N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc));
  }
}

}  // namespace melodl::cuda
