// kernels/gemm_ref.cpp: the obviously-correct triple loop behind kernels/gemm.h (the spec
// for cuda::gemm, and the matrix products of the whole-layer reference).
#include "kernels/gemm.h"

namespace melodl::ref {

template <typename Scalar>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, Scalar alpha, const Scalar* A, int lda,
          const Scalar* B, int ldb, Scalar beta, Scalar* C, int ldc) {
  cuda::require(M >= 0 && N >= 0 && K >= 0, "ref::gemm", "M, N, K must be >= 0");
  for (int m = 0; m < M; ++m) {
    for (int n = 0; n < N; ++n) {
      Scalar s = 0;
      for (int k = 0; k < K; ++k) {
        const Scalar a = trans_a ? A[k * lda + m] : A[m * lda + k];
        const Scalar b = trans_b ? B[n * ldb + k] : B[k * ldb + n];
        s += a * b;
      }
      Scalar& c = C[m * ldc + n];
      c = beta == Scalar(0) ? alpha * s : alpha * s + beta * c;
    }
  }
}

template void gemm<float>(bool, bool, int, int, int, float, const float*, int, const float*, int,
                          float, float*, int);
template void gemm<double>(bool, bool, int, int, int, double, const double*, int, const double*,
                           int, double, double*, int);

}  // namespace melodl::ref
