// kernels/lstm_layer_persistent.cu: GravesLSTM layer forward, variant (b): one persistent
// cooperative kernel runs all T steps with the recurrent weights R held in shared memory.
// First version, written without a GPU: FP32 SIMT, correctness first, to be measured.
// Mapping: P CTAs (<= one per SM), CTA c owns hidden units [c*U, c*U+U) with ALL FOUR
//   gates of those units, so the peephole cell update is CTA-local. Its R slice (H x 4U
//   floats) is loaded into shared memory once. Per step every CTA copies h_{t-1} [B,H] into
//   shared memory (L2 reads, bypassing L1 with __ldcg: written by other CTAs last step),
//   each thread computes the 4 gate dot products of one (b, unit) pair, applies the fused
//   cell update (bias, peepholes, activations), writes c_t, h_t and the gates, then
//   grid.sync() publishes h_t to every CTA. The input projection is hoisted as in variant
//   (a) (gather or one GEMM into `gates`).
// Shared memory per CTA: 4*(4UH + BH) bytes; seed (H 200, B 32, 132 SMs: U = 2, P = 100):
//   32 KB. Per step per CTA: 8*B*U*H FLOPs; critical path = 1 grid.sync (est. 1-1.5 us on
//   H100) + the dependent 4H-long dot product. Fits iff that shared memory fits one CTA and
//   all P CTAs are co-resident (lstm_layer_forward_persistent_fits).
// Test: tests/kernels/lstm_layer_cuda_test.cpp (PersistentForward*). Same outputs as
// lstm_layer_forward up to summation order.
#include <cooperative_groups.h>

#include <algorithm>
#include <string>

#include "kernels/cuda_check.cuh"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/launch.cuh"
#include "kernels/lstm_layer.h"

namespace melodl::cuda {
namespace {
namespace cg = cooperative_groups;
using detail::ceil_div;
using detail::sigmoid;
using detail::tanh_act;

constexpr int kThreads = 128;  // (b, unit) pairs are strided over the block

struct PersistentParams {
  int T, B, H, U;
  const float* R;   // [H,G]
  const float* b;   // [G]
  const float* p;   // [3,H] or null
  const float* h0;  // [B,H]
  const float* c0;  // [B,H]
  float* hs;        // [T,B,H]
  float* cs;        // [T,B,H]
  float* gates;     // [T,B,G]: in: input projection z (no bias); out: activations
};

template <bool kTraining, bool kPeephole>
__global__ void __launch_bounds__(kThreads) persistent_fwd_kernel(PersistentParams prm) {
  cg::grid_group grid = cg::this_grid();
  extern __shared__ float smem[];
  const int B = prm.B, H = prm.H, U = prm.U, G = 4 * H, U4 = 4 * U;
  float* Rs = smem;              // [H][4U]: Rs[k*4U + q*U + u] = R[k, q*H + j0 + u]
  float* hprev = smem + H * U4;  // [B][H]
  const int j0 = blockIdx.x * U;
  const int nu = min(U, H - j0);  // units owned by this CTA (>= 1 by construction)

  for (int e = threadIdx.x; e < H * U4; e += blockDim.x) {
    const int k = e / U4, r = e - k * U4, q = r / U, u = r - q * U;
    Rs[e] = u < nu ? prm.R[static_cast<int64_t>(k) * G + q * H + j0 + u] : 0.f;
  }

  for (int t = 0; t < prm.T; ++t) {
    const int64_t BH = static_cast<int64_t>(B) * H;
    const float* h_prev = t ? prm.hs + (t - 1) * BH : prm.h0;  // [B,H]
    const float* c_prev = t ? prm.cs + (t - 1) * BH : prm.c0;  // [B,H]
    for (int e = threadIdx.x; e < B * H; e += blockDim.x) hprev[e] = __ldcg(h_prev + e);
    __syncthreads();
    float* z_t = prm.gates + t * static_cast<int64_t>(B) * G;  // [B,G]
    for (int pair = threadIdx.x; pair < B * nu; pair += blockDim.x) {
      const int bi = pair / nu, u = pair - bi * nu, j = j0 + u;
      float* zr = z_t + static_cast<int64_t>(bi) * G;  // [G]
      float acc_i = zr[j], acc_f = zr[H + j], acc_g = zr[2 * H + j], acc_o = zr[3 * H + j];
      const float* hr = hprev + bi * H;  // [H]
      for (int k = 0; k < H; ++k) {
        const float hk = hr[k];
        const float* rk = Rs + k * U4 + u;
        acc_i += hk * rk[0];
        acc_f += hk * rk[U];
        acc_g += hk * rk[2 * U];
        acc_o += hk * rk[3 * U];
      }
      const int64_t idx = static_cast<int64_t>(bi) * H + j;
      const float cp = __ldcg(c_prev + idx);
      float pi = 0.f, pf = 0.f, po = 0.f;
      if constexpr (kPeephole) {
        pi = prm.p[j];
        pf = prm.p[H + j];
        po = prm.p[2 * H + j];
      }
      const float i = sigmoid(acc_i + prm.b[j] + pi * cp);
      const float f = sigmoid(acc_f + prm.b[H + j] + pf * cp);
      const float g = tanh_act(acc_g + prm.b[2 * H + j]);
      const float c = f * cp + i * g;
      const float o = sigmoid(acc_o + prm.b[3 * H + j] + po * c);
      prm.cs[t * BH + idx] = c;
      prm.hs[t * BH + idx] = o * tanh_act(c);
      if constexpr (kTraining) {
        zr[j] = i;
        zr[H + j] = f;
        zr[2 * H + j] = g;
        zr[3 * H + j] = o;
      }
    }
    grid.sync();  // h_t, c_t visible to every CTA; hprev may be overwritten
  }
}

struct Plan {
  int U = 0, P = 0;
  size_t smem = 0;
  std::string why_not;  // empty when the shape fits
};

template <bool kTraining, bool kPeephole>
Plan plan_for(int B, int H) {
  Plan pl;
  int dev = 0, sms = 0, smem_optin = 0, coop = 0;
  MELODL_CUDA_CHECK(cudaGetDevice(&dev));
  MELODL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  MELODL_CUDA_CHECK(
      cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  MELODL_CUDA_CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev));
  if (!coop) {
    pl.why_not = "device does not support cooperative launch";
    return pl;
  }
  pl.U = static_cast<int>(ceil_div(H, sms));
  pl.P = static_cast<int>(ceil_div(H, pl.U));
  pl.smem = sizeof(float) * (static_cast<size_t>(H) * 4 * pl.U + static_cast<size_t>(B) * H);
  if (pl.smem > static_cast<size_t>(smem_optin)) {
    pl.why_not = "needs " + std::to_string(pl.smem) + " bytes of shared memory per CTA, device " +
                 "allows " + std::to_string(smem_optin);
    return pl;
  }
  auto kernel = persistent_fwd_kernel<kTraining, kPeephole>;
  MELODL_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(pl.smem)));
  int per_sm = 0;
  MELODL_CUDA_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, pl.smem));
  if (per_sm * sms < pl.P) {
    pl.why_not = std::to_string(pl.P) + " CTAs cannot be co-resident";
    return pl;
  }
  return pl;
}

template <bool kTraining, bool kPeephole>
void launch_persistent(const LayerFwdArgs& a, const ExecContext& ctx) {
  const Plan pl = plan_for<kTraining, kPeephole>(a.B, a.H);
  require(pl.why_not.empty(), "cuda::lstm_layer_forward_persistent",
          "shape B=" + std::to_string(a.B) + " H=" + std::to_string(a.H) +
              " does not fit: " + pl.why_not + " (use lstm_layer_forward)");
  PersistentParams prm{a.T, a.B, a.H, pl.U, a.R, a.b, a.p, a.h0, a.c0, a.hs, a.cs, a.gates};
  void* args[] = {&prm};
  MELODL_CUDA_CHECK(cudaLaunchCooperativeKernel(
      reinterpret_cast<const void*>(persistent_fwd_kernel<kTraining, kPeephole>), dim3(pl.P),
      dim3(kThreads), args, pl.smem, ctx.stream));
  MELODL_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool lstm_layer_forward_persistent_fits(int B, int H) {
  require(B >= 1 && H >= 1, "cuda::lstm_layer_forward_persistent_fits", "B, H must be >= 1");
  return plan_for<true, true>(B, H).why_not.empty() &&
         plan_for<true, false>(B, H).why_not.empty() &&
         plan_for<false, true>(B, H).why_not.empty() &&
         plan_for<false, false>(B, H).why_not.empty();
}

void lstm_layer_forward_persistent(const LayerFwdArgs& a, const ExecContext& ctx) {
  constexpr const char* kWhere = "cuda::lstm_layer_forward_persistent";
  validate_layer(a, kWhere);
  require(a.b && a.hs && a.cs && a.gates, kWhere, "b, hs, cs, gates must be non-null");
  const int G = 4 * a.H;
  const int64_t N = static_cast<int64_t>(a.T) * a.B;
  if (a.symbols) {
    gather_rows(GatherArgs{N, a.I, G, a.symbols, a.W, nullptr, a.gates}, ctx);
  } else {
    require(ctx.blas != nullptr, kWhere, "ExecContext.blas must be set for a dense input");
    require(N <= 0x7fffffff, kWhere, "T*B must fit in int (cuBLAS)");
    gemm(ctx, false, false, static_cast<int>(N), G, a.I, 1.f, a.x, a.I, a.W, G, 0.f, a.gates, G);
  }
  if (a.training) {
    if (a.peephole)
      launch_persistent<true, true>(a, ctx);
    else
      launch_persistent<true, false>(a, ctx);
  } else {
    if (a.peephole)
      launch_persistent<false, true>(a, ctx);
    else
      launch_persistent<false, false>(a, ctx);
  }
}

}  // namespace melodl::cuda
