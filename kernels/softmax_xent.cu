// kernels/softmax_xent.cu: fused softmax + cross-entropy + gradient, one warp per row.
// Thread mapping: 8 warps per block, warp w of block k handles row 8k+w; lanes stride the V
// logits (V = 59..80 for the music vocabularies: 2-3 loads per lane). Three passes over the
// row (max, sum of exp, write), all from L1/registers after the first read; warp shuffles
// reduce in a fixed butterfly order, so results are deterministic. Bytes: N*V*8 (read
// logits, write dlogits) + N*12. The loss sum is a separate deterministic two-pass sum
// (kernels/reduce.cu) over loss_rows.
#include <limits>

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/reduce.h"
#include "kernels/softmax_xent.h"

namespace melodl::cuda {
namespace {
using detail::ceil_div;
constexpr int kWarpsPerBlock = 8;
constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(kFull, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    softmax_xent_kernel(int64_t N, int V,
                        const float* logits,                  // [N,V] (may alias dlogits)
                        const int32_t* __restrict__ targets,  // [N]
                        const float* __restrict__ weights,    // [N] or null
                        float* __restrict__ loss_rows,        // [N]
                        float* dlogits) {                     // [N,V] or null
  const int lane = threadIdx.x & 31;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (n >= N) return;               // whole warp leaves together: the shuffles below stay full-warp
  const float* z = logits + n * V;  // [V]
  const float w = weights ? weights[n] : 1.f;
  const int32_t t = targets[n];
  if (w == 0.f) {
    if (lane == 0) loss_rows[n] = 0.f;
    if (dlogits)
      for (int v = lane; v < V; v += 32) dlogits[n * V + v] = 0.f;
    return;
  }
  float m = -INFINITY;
  for (int v = lane; v < V; v += 32) m = fmaxf(m, z[v]);
  m = warp_max(m);
  float se = 0.f;
  for (int v = lane; v < V; v += 32) se += expf(z[v] - m);
  se = warp_sum(se);
  const bool ok = t >= 0 && t < V;
  if (lane == 0)
    loss_rows[n] = ok ? w * (logf(se) + m - z[t]) : std::numeric_limits<float>::quiet_NaN();
  if (dlogits) {
    const float inv = 1.f / se;
    __syncwarp();  // every lane has read its logits (and lane 0 z[t]) before any overwrite
    for (int v = lane; v < V; v += 32) {
      const float p = expf(z[v] - m) * inv;
      dlogits[n * V + v] = w * (p - (v == t ? 1.f : 0.f));
    }
  }
}

}  // namespace

void softmax_xent(const SoftmaxXentArgs& a, const ExecContext& ctx) {
  constexpr const char* kWhere = "cuda::softmax_xent";
  require(a.N >= 0 && a.V > 0, kWhere, "N must be >= 0 and V > 0");
  require(a.loss_sum == nullptr || a.workspace != nullptr, kWhere,
          "workspace is required when loss_sum is set");
  if (a.N > 0) {
    require(a.logits && a.targets && a.loss_rows, kWhere,
            "logits, targets, loss_rows must be non-null");
    const auto blocks = static_cast<unsigned>(ceil_div(a.N, kWarpsPerBlock));
    softmax_xent_kernel<<<blocks, kWarpsPerBlock * 32, 0, ctx.stream>>>(
        a.N, a.V, a.logits, a.targets, a.weights, a.loss_rows, a.dlogits);
    MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
  }
  if (a.loss_sum) sum(a.loss_rows, a.N, /*squares=*/false, a.loss_sum, a.workspace, ctx);
}

}  // namespace melodl::cuda
