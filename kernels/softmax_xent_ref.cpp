// kernels/softmax_xent_ref.cpp: scalar reference of the fused softmax + cross-entropy +
// gradient (kernels/softmax_xent.h). Max-subtracted for stability.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/softmax_xent.h"

namespace melodl::ref {

template <typename Scalar>
void softmax_xent(const SoftmaxXentArgsT<Scalar>& a) {
  constexpr const char* kWhere = "ref::softmax_xent";
  cuda::require(a.N >= 0 && a.V > 0, kWhere, "N must be >= 0 and V > 0");
  Scalar total = 0;
  std::vector<Scalar> row(static_cast<size_t>(a.V));
  for (int64_t n = 0; n < a.N; ++n) {
    const Scalar* z = a.logits + n * a.V;  // [V]
    const Scalar w = a.weights ? a.weights[n] : Scalar(1);
    const int32_t t = a.targets[n];
    Scalar loss = 0;
    if (w == Scalar(0)) {
      for (int v = 0; v < a.V; ++v) row[v] = 0;
    } else {
      cuda::require(t >= 0 && t < a.V, kWhere,
                    "targets[" + std::to_string(n) + "] = " + std::to_string(t) +
                        " is outside [0, " + std::to_string(a.V) + ")");
      Scalar m = z[0];
      for (int v = 1; v < a.V; ++v) m = z[v] > m ? z[v] : m;
      Scalar se = 0;
      for (int v = 0; v < a.V; ++v) se += std::exp(z[v] - m);
      loss = w * (std::log(se) + m - z[t]);
      for (int v = 0; v < a.V; ++v)
        row[v] = w * (std::exp(z[v] - m) / se - (v == t ? Scalar(1) : Scalar(0)));
    }
    a.loss_rows[n] = loss;
    total += loss;
    if (a.dlogits)  // written after the row's logits were read: aliasing is safe
      for (int v = 0; v < a.V; ++v) a.dlogits[n * a.V + v] = row[v];
  }
  if (a.loss_sum) *a.loss_sum = total;
}

template void softmax_xent<float>(const SoftmaxXentArgsT<float>&);
template void softmax_xent<double>(const SoftmaxXentArgsT<double>&);

}  // namespace melodl::ref
