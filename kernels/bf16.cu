// kernels/bf16.cu: the device side of kernels/bf16.h: cuda::round_bf16, fp32 -> bf16 ->
// fp32 with the conversion the bf16 kernels use (__float2bfloat16_rn, round to nearest
// even). One thread per element, grid-stride loop; 8 bytes per element. Exists so the tests
// can check the device conversion bit for bit against ref::round_bf16.
#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/bf16.h"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"

namespace melodl::cuda {
namespace {
using detail::ceil_div;
constexpr int kBlock = 256;
constexpr int64_t kMaxBlocks = 4096;

__global__ void __launch_bounds__(kBlock)
    round_bf16_kernel(const float* in, float* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride)
    out[k] = __bfloat162float(__float2bfloat16_rn(in[k]));
}

}  // namespace

void round_bf16(const float* in, float* out, int64_t n, const ExecContext& ctx) {
  constexpr const char* kWhere = "cuda::round_bf16";
  require(n >= 0, kWhere, "n must be >= 0");
  if (n == 0) return;
  require(in != nullptr && out != nullptr, kWhere, "in, out must be non-null");
  const int64_t blocks = std::min(ceil_div(n, kBlock), kMaxBlocks);
  round_bf16_kernel<<<static_cast<unsigned>(blocks), kBlock, 0, ctx.stream>>>(in, out, n);
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
}

}  // namespace melodl::cuda
