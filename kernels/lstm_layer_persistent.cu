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
// Storage (template TS): fp32 for GemmMath kTf32/kFp32 (the products are exact fp32 SIMT
//   either way); bf16 for kBf16: R and the h_{t-1} copy are rounded to bf16
//   (__float2bfloat16_rn) as they enter shared memory, products and sums stay fp32, and so
//   do c, h, the gates and everything in global memory (spec: ref::lstm_layer_forward_bf16).
// Shared memory per CTA: s*(4UH + BH) bytes, s = 4 (fp32) or 2 (bf16), U = ceil(H/#SMs).
//   On an H100 (132 SMs, 227 KB = 232448 bytes opt-in per CTA):
//     seed H 200, B 32:  U = 2, P = 100:  fp32 32000 B,   bf16 16000 B
//     H 512, B 64:       U = 4, P = 128:  fp32 163840 B,  bf16 81920 B
//     H 1024, B 64:      U = 8, P = 128:  fp32 393216 B (does not fit), bf16 196608 B (fits)
//   Per step per CTA: 8*B*U*H FLOPs; critical path = 1 grid.sync (est. 1-1.5 us on H100) +
//   the dependent 4H-long dot product. Fits iff that shared memory fits one CTA and all P
//   CTAs are co-resident (lstm_layer_forward_persistent_fits(B, H, math)).
// Tests: tests/kernels/lstm_layer_cuda_test.cpp (fp32), tests/kernels/bf16_cuda_test.cpp
// (bf16). Same outputs as lstm_layer_forward up to summation order (fp32 storage).
#include <cooperative_groups.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "kernels/cuda_check.cuh"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/launch.cuh"
#include "kernels/lstm_layer.h"
#include "kernels/persistent_plan.cuh"

namespace melodl::cuda {
namespace {
namespace cg = cooperative_groups;
using detail::ceil_div;
using detail::sigmoid;
using detail::tanh_act;

constexpr int kThreads = 128;  // (b, unit) pairs are strided over the block

// Shared-memory storage type <-> fp32. fp32: identity; bf16: round to nearest even.
template <typename TS>
__device__ __forceinline__ TS to_storage(float x);
template <>
__device__ __forceinline__ float to_storage<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __nv_bfloat16 to_storage<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

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

template <typename TS, bool kTraining, bool kPeephole>
__global__ void __launch_bounds__(kThreads) persistent_fwd_kernel(PersistentParams prm) {
  cg::grid_group grid = cg::this_grid();
  extern __shared__ __align__(16) unsigned char smem_raw[];  // one name for every TS
  TS* smem = reinterpret_cast<TS*>(smem_raw);
  const int B = prm.B, H = prm.H, U = prm.U, G = 4 * H, U4 = 4 * U;
  TS* Rs = smem;              // [H][4U]: Rs[k*4U + q*U + u] = R[k, q*H + j0 + u]
  TS* hprev = smem + H * U4;  // [B][H]
  const int j0 = blockIdx.x * U;
  const int nu = min(U, H - j0);  // units owned by this CTA (>= 1 by construction)

  for (int e = threadIdx.x; e < H * U4; e += blockDim.x) {
    const int k = e / U4, r = e - k * U4, q = r / U, u = r - q * U;
    Rs[e] = to_storage<TS>(u < nu ? prm.R[static_cast<int64_t>(k) * G + q * H + j0 + u] : 0.f);
  }

  for (int t = 0; t < prm.T; ++t) {
    const int64_t BH = static_cast<int64_t>(B) * H;
    const float* h_prev = t ? prm.hs + (t - 1) * BH : prm.h0;  // [B,H]
    const float* c_prev = t ? prm.cs + (t - 1) * BH : prm.c0;  // [B,H]
    for (int e = threadIdx.x; e < B * H; e += blockDim.x)
      hprev[e] = to_storage<TS>(__ldcg(h_prev + e));
    __syncthreads();
    float* z_t = prm.gates + t * static_cast<int64_t>(B) * G;  // [B,G]
    for (int pair = threadIdx.x; pair < B * nu; pair += blockDim.x) {
      const int bi = pair / nu, u = pair - bi * nu, j = j0 + u;
      float* zr = z_t + static_cast<int64_t>(bi) * G;  // [G]
      float acc_i = zr[j], acc_f = zr[H + j], acc_g = zr[2 * H + j], acc_o = zr[3 * H + j];
      const TS* hr = hprev + bi * H;  // [H]
      for (int k = 0; k < H; ++k) {
        const float hk = to_f32(hr[k]);
        const TS* rk = Rs + k * U4 + u;
        acc_i += hk * to_f32(rk[0]);
        acc_f += hk * to_f32(rk[U]);
        acc_g += hk * to_f32(rk[2 * U]);
        acc_o += hk * to_f32(rk[3 * U]);
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

// The launch plan of one instantiation for (B, H) on the current device: computed once per
// (device, B, H) (kernels/persistent_plan.cuh: device limits and occupancy cached, the
// shared-memory attribute raised once to the device's maximum, never lowered).
template <typename TS, bool kTraining, bool kPeephole>
Plan plan_for(int B, int H) {
  static detail::PlanCache<std::tuple<int, int, int>, Plan> cache;
  int dev = 0;
  MELODL_CUDA_CHECK(cudaGetDevice(&dev));
  return cache.get({dev, B, H}, [&] {
    Plan pl;
    const detail::DeviceLimits d = detail::device_limits();
    if (!d.cooperative) {
      pl.why_not = "device does not support cooperative launch";
      return pl;
    }
    pl.U = static_cast<int>(ceil_div(H, d.sms));
    pl.P = static_cast<int>(ceil_div(H, pl.U));
    pl.smem = sizeof(TS) * (static_cast<size_t>(H) * 4 * pl.U + static_cast<size_t>(B) * H);
    if (pl.smem > static_cast<size_t>(d.smem_optin)) {
      pl.why_not = "needs " + std::to_string(pl.smem) + " bytes of shared memory per CTA (" +
                   (sizeof(TS) == 2 ? "bf16" : "fp32") + " storage), device allows " +
                   std::to_string(d.smem_optin);
      return pl;
    }
    const void* kernel =
        reinterpret_cast<const void*>(persistent_fwd_kernel<TS, kTraining, kPeephole>);
    if (detail::blocks_per_sm(kernel, d, kThreads, pl.smem) * d.sms < pl.P)
      pl.why_not = std::to_string(pl.P) + " CTAs cannot be co-resident";
    return pl;
  });
}

template <typename TS, bool kTraining, bool kPeephole>
void launch_persistent(const LayerFwdArgs& a, const ExecContext& ctx) {
  const Plan pl = plan_for<TS, kTraining, kPeephole>(a.B, a.H);
  require(pl.why_not.empty(), "cuda::lstm_layer_forward_persistent",
          "shape B=" + std::to_string(a.B) + " H=" + std::to_string(a.H) +
              " does not fit: " + pl.why_not + " (use lstm_layer_forward)");
  PersistentParams prm{a.T, a.B, a.H, pl.U, a.R, a.b, a.p, a.h0, a.c0, a.hs, a.cs, a.gates};
  void* args[] = {&prm};
  MELODL_CUDA_CHECK(cudaLaunchCooperativeKernel(
      reinterpret_cast<const void*>(persistent_fwd_kernel<TS, kTraining, kPeephole>), dim3(pl.P),
      dim3(kThreads), args, pl.smem, ctx.stream));
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
}

template <typename TS>
void launch_persistent(const LayerFwdArgs& a, const ExecContext& ctx) {
  if (a.training) {
    if (a.peephole)
      launch_persistent<TS, true, true>(a, ctx);
    else
      launch_persistent<TS, true, false>(a, ctx);
  } else {
    if (a.peephole)
      launch_persistent<TS, false, true>(a, ctx);
    else
      launch_persistent<TS, false, false>(a, ctx);
  }
}

template <typename TS>
bool fits_all_variants(int B, int H) {
  return plan_for<TS, true, true>(B, H).why_not.empty() &&
         plan_for<TS, true, false>(B, H).why_not.empty() &&
         plan_for<TS, false, true>(B, H).why_not.empty() &&
         plan_for<TS, false, false>(B, H).why_not.empty();
}

}  // namespace

bool lstm_layer_forward_persistent_fits(int B, int H, GemmMath math) {
  require(B >= 1 && H >= 1, "cuda::lstm_layer_forward_persistent_fits", "B, H must be >= 1");
  switch (math) {
    case GemmMath::kTf32:
    case GemmMath::kFp32:
      return fits_all_variants<float>(B, H);
    case GemmMath::kBf16:
      return fits_all_variants<__nv_bfloat16>(B, H);
  }
  throw InvalidArgument("[cuda::lstm_layer_forward_persistent_fits] unknown GemmMath " +
                        std::to_string(static_cast<int>(math)));
}

bool lstm_layer_forward_persistent_fits(int B, int H) {
  return lstm_layer_forward_persistent_fits(B, H, GemmMath::kTf32);
}

void lstm_layer_forward_persistent(const LayerFwdArgs& a, const ExecContext& ctx) {
  constexpr const char* kWhere = "cuda::lstm_layer_forward_persistent";
  validate_layer(a, kWhere);
  require(a.b && a.hs && a.cs && a.gates, kWhere, "b, hs, cs, gates must be non-null");
  require(ctx.math == GemmMath::kTf32 || ctx.math == GemmMath::kFp32 || ctx.math == GemmMath::kBf16,
          kWhere, "unknown GemmMath " + std::to_string(static_cast<int>(ctx.math)));
  const int G = 4 * a.H;
  const int64_t N = static_cast<int64_t>(a.T) * a.B;
  if (a.symbols) {
    gather_rows(GatherArgs{N, a.I, G, a.symbols, a.W, nullptr, a.gates}, ctx);
  } else {
    require(ctx.blas != nullptr, kWhere, "ExecContext.blas must be set for a dense input");
    require(N <= 0x7fffffff, kWhere, "T*B must fit in int (cuBLAS)");
    gemm(ctx, false, false, static_cast<int>(N), G, a.I, 1.f, a.x, a.I, a.W, G, 0.f, a.gates, G);
  }
  switch (ctx.math) {
    case GemmMath::kTf32:
    case GemmMath::kFp32:
      launch_persistent<float>(a, ctx);
      return;
    case GemmMath::kBf16:
      launch_persistent<__nv_bfloat16>(a, ctx);
      return;
  }
}

}  // namespace melodl::cuda
