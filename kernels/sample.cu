// kernels/sample.cu: batched inverse-CDF sampling, one warp per row (kernels/sample.h).
// Lanes stride the V logits: warp max, warp sum of p_v, then the row is walked in chunks of
// 32 with a warp inclusive scan; a ballot finds the first v whose running sum exceeds
// u*total. Fixed reduction/scan order: deterministic. Bytes: B*V*4 read (a few KB for
// sampling), so it is launch-bound; it exists so composing never copies logits to the host.
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/sample.h"

namespace melodl::cuda {
namespace {
using detail::ceil_div;
constexpr int kWarpsPerBlock = 4;
constexpr unsigned kFull = 0xffffffffu;

__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    sample_kernel(int B, int V,
                  const float* __restrict__ logits,  // [B,V]
                  float inv_temp,
                  const float* __restrict__ u,  // [B]
                  int32_t* __restrict__ out) {  // [B]
  const int lane = threadIdx.x & 31;
  const int bi = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  if (bi >= B) return;                                     // warp-uniform
  const float* z = logits + static_cast<int64_t>(bi) * V;  // [V]
  float m = -INFINITY;
  for (int v = lane; v < V; v += 32) m = fmaxf(m, z[v]);
  for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(kFull, m, o));
  float total = 0.f;
  for (int v = lane; v < V; v += 32) total += expf((z[v] - m) * inv_temp);
  for (int o = 16; o > 0; o /= 2) total += __shfl_xor_sync(kFull, total, o);
  const float target = u[bi] * total;
  int32_t k = V - 1;
  float base = 0.f;  // running sum of the previous chunks
  for (int v0 = 0; v0 < V; v0 += 32) {
    const int v = v0 + lane;
    float s = v < V ? expf((z[v] - m) * inv_temp) : 0.f;
    for (int o = 1; o < 32; o *= 2) {  // inclusive scan
      const float n = __shfl_up_sync(kFull, s, o);
      if (lane >= o) s += n;
    }
    const unsigned hit = __ballot_sync(kFull, v < V && base + s > target);
    if (hit) {
      k = v0 + __ffs(hit) - 1;
      break;
    }
    base += __shfl_sync(kFull, s, 31);
  }
  if (lane == 0) out[bi] = k;
}

}  // namespace

void sample(const SampleArgs& a, const ExecContext& ctx) {
  validate(a, "cuda::sample");
  if (a.B == 0) return;
  const auto blocks = static_cast<unsigned>(ceil_div(a.B, kWarpsPerBlock));
  sample_kernel<<<blocks, kWarpsPerBlock * 32, 0, ctx.stream>>>(a.B, a.V, a.logits,
                                                                1.f / a.temperature, a.u, a.out);
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
}

}  // namespace melodl::cuda
