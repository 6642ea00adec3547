// kernels/gather_ref.cpp: scalar references of the one-hot row gather and its weight
// gradient (kernels/gather.h).
#include <string>

#include "kernels/gather.h"

namespace melodl::ref {
namespace {
void check_sym(int32_t s, int I, int64_t n, const char* where) {
  cuda::require(s >= 0 && s < I, where,
                "sym[" + std::to_string(n) + "] = " + std::to_string(s) + " is outside [0, " +
                    std::to_string(I) + ")");
}
}  // namespace

template <typename Scalar>
void gather_rows(const GatherArgsT<Scalar>& a) {
  constexpr const char* kWhere = "ref::gather_rows";
  cuda::require(a.N >= 0 && a.I >= 0 && a.G >= 0, kWhere, "sizes must be >= 0");
  for (int64_t n = 0; n < a.N; ++n) {
    const int32_t s = a.sym[n];
    check_sym(s, a.I, n, kWhere);
    for (int g = 0; g < a.G; ++g)
      a.out[n * a.G + g] = a.W[static_cast<int64_t>(s) * a.G + g] + (a.b ? a.b[g] : Scalar(0));
  }
}

template <typename Scalar>
void onehot_weight_grad(const OnehotGradArgsT<Scalar>& a) {
  constexpr const char* kWhere = "ref::onehot_weight_grad";
  cuda::require(a.N >= 0 && a.I >= 0 && a.G >= 0, kWhere, "sizes must be >= 0");
  if (!a.accumulate)
    for (int64_t k = 0; k < static_cast<int64_t>(a.I) * a.G; ++k) a.dW[k] = 0;
  for (int64_t n = 0; n < a.N; ++n) {
    const int32_t s = a.sym[n];
    check_sym(s, a.I, n, kWhere);
    for (int g = 0; g < a.G; ++g) a.dW[static_cast<int64_t>(s) * a.G + g] += a.dz[n * a.G + g];
  }
}

template void gather_rows<float>(const GatherArgsT<float>&);
template void gather_rows<double>(const GatherArgsT<double>&);
template void onehot_weight_grad<float>(const OnehotGradArgsT<float>&);
template void onehot_weight_grad<double>(const OnehotGradArgsT<double>&);

}  // namespace melodl::ref
