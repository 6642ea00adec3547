// kernels/optim_ref.cpp: scalar reference of the fused optimiser step (kernels/optim.h).
#include <cmath>

#include "kernels/optim.h"

namespace melodl::ref {

template <typename Scalar>
void optim_step(const OptimArgsT<Scalar>& a) {
  validate(a, "ref::optim_step");
  Scalar sq = 0;
  for (int64_t k = 0; k < a.n; ++k) sq += (a.grad_scale * a.g[k]) * (a.grad_scale * a.g[k]);
  const Scalar norm = std::sqrt(sq);
  if (a.norm_out) *a.norm_out = norm;
  const Scalar clip =
      (a.clip_norm > Scalar(0) && norm > a.clip_norm) ? a.clip_norm / norm : Scalar(1);
  const Scalar bc1 = Scalar(1) - std::pow(a.beta1, static_cast<Scalar>(a.step));
  const Scalar bc2 = Scalar(1) - std::pow(a.beta2, static_cast<Scalar>(a.step));
  const Scalar decay = Scalar(1) - a.lr * a.weight_decay;
  for (int64_t k = 0; k < a.n; ++k) {
    const Scalar g = a.grad_scale * a.g[k] * clip;
    const bool weight = a.l2_mask == nullptr || a.l2_mask[k] != 0;
    if (weight && a.weight_decay > Scalar(0)) a.w[k] *= decay;
    const Scalar l2w = weight ? a.l2 * a.w[k] : Scalar(0);
    switch (a.kind) {
      case OptimKind::kRmsPropDl4j: {
        a.v[k] = a.rho * a.v[k] + (Scalar(1) - a.rho) * g * g;
        Scalar u = a.lr * g / (std::sqrt(a.v[k]) + a.eps);
        u += l2w;
        u /= a.minibatch;
        a.w[k] -= u;
        break;
      }
      case OptimKind::kRmsProp: {
        const Scalar gg = g + l2w;
        a.v[k] = a.rho * a.v[k] + (Scalar(1) - a.rho) * gg * gg;
        a.w[k] -= a.lr * gg / (std::sqrt(a.v[k]) + a.eps);
        break;
      }
      case OptimKind::kAdam: {
        const Scalar gg = g + l2w;
        a.m[k] = a.beta1 * a.m[k] + (Scalar(1) - a.beta1) * gg;
        a.v[k] = a.beta2 * a.v[k] + (Scalar(1) - a.beta2) * gg * gg;
        a.w[k] -= a.lr * (a.m[k] / bc1) / (std::sqrt(a.v[k] / bc2) + a.eps);
        break;
      }
      case OptimKind::kSgdMomentum: {
        const Scalar gg = g + l2w;
        if (a.m) {
          a.m[k] = a.momentum * a.m[k] + gg;
          a.w[k] -= a.lr * a.m[k];
        } else {
          a.w[k] -= a.lr * gg;
        }
        break;
      }
    }
  }
}

template void optim_step<float>(const OptimArgsT<float>&);
template void optim_step<double>(const OptimArgsT<double>&);

}  // namespace melodl::ref
