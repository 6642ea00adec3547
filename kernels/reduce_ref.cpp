// kernels/reduce_ref.cpp: scalar references of kernels/reduce.h (sequential sums).
#include "kernels/reduce.h"

namespace melodl::ref {

template <typename Scalar>
void column_sum(const Scalar* x, int64_t N, int64_t M, Scalar* out, bool accumulate) {
  cuda::require(N >= 0 && M >= 0, "ref::column_sum", "N and M must be >= 0");
  for (int64_t m = 0; m < M; ++m) {
    Scalar s = accumulate ? out[m] : Scalar(0);
    for (int64_t n = 0; n < N; ++n) s += x[n * M + m];
    out[m] = s;
  }
}

template <typename Scalar>
Scalar sum(const Scalar* x, int64_t n, bool squares) {
  Scalar s = 0;
  for (int64_t k = 0; k < n; ++k) s += squares ? x[k] * x[k] : x[k];
  return s;
}

template void column_sum<float>(const float*, int64_t, int64_t, float*, bool);
template void column_sum<double>(const double*, int64_t, int64_t, double*, bool);
template float sum<float>(const float*, int64_t, bool);
template double sum<double>(const double*, int64_t, bool);

}  // namespace melodl::ref
