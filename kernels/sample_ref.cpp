// kernels/sample_ref.cpp: scalar reference of batched inverse-CDF sampling (kernels/sample.h).
#include <cmath>
#include <vector>

#include "kernels/sample.h"

namespace melodl::ref {

template <typename Scalar>
void sample(const SampleArgsT<Scalar>& a) {
  validate(a, "ref::sample");
  std::vector<Scalar> p(static_cast<size_t>(a.V));
  for (int bi = 0; bi < a.B; ++bi) {
    const Scalar* z = a.logits + static_cast<int64_t>(bi) * a.V;  // [V]
    Scalar m = z[0];
    for (int v = 1; v < a.V; ++v) m = z[v] > m ? z[v] : m;
    Scalar total = 0;
    for (int v = 0; v < a.V; ++v) total += p[v] = std::exp((z[v] - m) / a.temperature);
    const Scalar target = a.u[bi] * total;
    int32_t k = a.V - 1;
    Scalar cum = 0;
    for (int v = 0; v < a.V; ++v) {
      cum += p[v];
      if (cum > target) {
        k = v;
        break;
      }
    }
    a.out[bi] = k;
  }
}

template void sample<float>(const SampleArgsT<float>&);
template void sample<double>(const SampleArgsT<double>&);

}  // namespace melodl::ref
