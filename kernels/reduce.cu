// kernels/reduce.cu: deterministic column sums and full sums (see kernels/reduce.h).
// column_sum: block = 8 columns x 64 row lanes (512 threads); lane r sums rows r, r+64, ...
//   in order, then a fixed shared-memory tree adds the 64 lane sums. A warp reads 4 rows x 8
//   consecutive columns (whole 32-byte sectors). Reads N*M*4 bytes once; parallelism M/8
//   blocks (seed: 100 for G = 800, 75 for 3H = 600, 10 for V = 80). A split-N two-pass
//   version (needs a workspace) would fill every SM for small M too (docs/kernels.md).
// sum: pass 1, a grid fixed by n (<= kSumWorkspaceFloats blocks), each block a fixed
//   strided loop + shared-memory tree; pass 2, one block sums the partials the same way.
//   No atomics: bitwise-reproducible.
#include <algorithm>

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/reduce.h"

namespace melodl::cuda {
namespace {
using detail::ceil_div;

// column_sum: a block owns kColTile columns and splits the N rows over kRowLanes lanes; a
// warp covers 4 lanes x 8 consecutive columns, so each load fills whole 32-byte sectors.
constexpr int kColTile = 8;
constexpr int kRowLanes = 64;

__global__ void __launch_bounds__(kColTile* kRowLanes)
    column_sum_kernel(const float* __restrict__ x,  // [N,M]
                      int64_t N, int64_t M,
                      float* __restrict__ out,  // [M]
                      bool accumulate) {
  __shared__ float part[kRowLanes][kColTile];
  const int64_t m = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  float s = 0.f;
  if (m < M)
    for (int64_t n = threadIdx.y; n < N; n += kRowLanes) s += x[n * M + m];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  // Fixed tree over the lanes: the order depends only on the sizes (deterministic).
  for (int w = kRowLanes / 2; w > 0; w /= 2) {
    if (threadIdx.y < w) part[threadIdx.y][threadIdx.x] += part[threadIdx.y + w][threadIdx.x];
    __syncthreads();
  }
  if (threadIdx.y == 0 && m < M) out[m] = (accumulate ? out[m] : 0.f) + part[0][threadIdx.x];
}

constexpr int kSumBlock = 256;

template <bool kSquares>
__global__ void __launch_bounds__(kSumBlock) sum_kernel(const float* __restrict__ x,  // [n]
                                                        int64_t n,
                                                        float* __restrict__ out) {  // [gridDim.x]
  __shared__ float buf[kSumBlock];
  float s = 0.f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kSumBlock;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * kSumBlock + threadIdx.x; k < n; k += stride) {
    const float v = x[k];
    s += kSquares ? v * v : v;
  }
  buf[threadIdx.x] = s;
  __syncthreads();
  for (int w = kSumBlock / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) buf[threadIdx.x] += buf[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = buf[0];
}

}  // namespace

void column_sum(const float* x, int64_t N, int64_t M, float* out, bool accumulate,
                const ExecContext& ctx) {
  require(N >= 0 && M >= 0, "cuda::column_sum", "N and M must be >= 0");
  if (M == 0) return;
  require(out != nullptr && (N == 0 || x != nullptr), "cuda::column_sum", "null pointer");
  const dim3 block(kColTile, kRowLanes);
  const dim3 grid(static_cast<unsigned>(ceil_div(M, kColTile)));
  column_sum_kernel<<<grid, block, 0, ctx.stream>>>(x, N, M, out, accumulate);
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
}

void sum(const float* x, int64_t n, bool squares, float* out, float* workspace,
         const ExecContext& ctx) {
  require(n >= 0, "cuda::sum", "n must be >= 0");
  require(out != nullptr && workspace != nullptr && (n == 0 || x != nullptr), "cuda::sum",
          "null pointer");
  // Grid depends only on n, so the summation order (and the result) is reproducible.
  const int64_t blocks =
      std::max<int64_t>(1, std::min(kSumWorkspaceFloats, ceil_div(n, kSumBlock)));
  if (squares)
    sum_kernel<true><<<static_cast<unsigned>(blocks), kSumBlock, 0, ctx.stream>>>(x, n, workspace);
  else
    sum_kernel<false><<<static_cast<unsigned>(blocks), kSumBlock, 0, ctx.stream>>>(x, n, workspace);
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
  sum_kernel<false><<<1, kSumBlock, 0, ctx.stream>>>(workspace, blocks, out);
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
}

}  // namespace melodl::cuda
