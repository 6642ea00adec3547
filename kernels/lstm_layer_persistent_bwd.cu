// kernels/lstm_layer_persistent_bwd.cu: GravesLSTM layer backward, variant (b): one persistent
// cooperative kernel runs the whole backward recurrence of a TBPTT segment (all T pointwise
// backward steps and dh_{t-1} = dhs[t-1] + dz_t R^T) with the needed rows of R in shared
// memory; afterwards the weight gradients exactly as variant (a) (shared code in
// kernels/lstm_layer.cu). Same contract as cuda::lstm_layer_backward (kernels/lstm_layer.h).
// First version, written without a GPU: FP32 SIMT, correctness first, to be measured.
// Mapping: P = ceil(H / U) CTAs of 256 threads; CTA c owns hidden units [c*U, c*U+U),
//   U = ceil(H / #SMs) (one CTA per SM; a caller may choose U, e.g. the bench sweeps it:
//   fewer CTAs read less of L2 in total per step, each does more FMAs), with all four
//   gates of those units. It keeps R[k, :] (G floats) for its own k in shared memory, and
//   dL/dh_t, dL/dc_t of its own units (CTA-local: nothing else reads them). Per step
//   t = T-1..0:
//   (A) one thread per own (b, unit) pair: the fused pointwise backward (the math of
//       kernels/lstm_pointwise.cu) -> dz_t[b, 4 gates of the unit] to the workspace's dz
//       (needed by the weight gradients anyway), dc_{t-1} (kept in shared memory), the
//       peephole partials; dh_{t-1} := dhs[t-1] (its load off the critical path); an L1
//       prefetch of the pair's inputs for step t-1; at t = 0 also dc0.
//   grid.sync(): dz_t [B,G] of every CTA is visible.
//   (B) each warp takes groups of 4 batch rows: lane l reads dz_t[b, 4m..4m+3] for
//       m = l, l+32, ... (float4, coalesced, __ldcg: L2, written by other CTAs) and
//       accumulates dz_t[b, j] R[k, j] for the CTA's own k (<= 8 per pass) from shared
//       memory, each R value feeding 4 rows; a fixed xor-butterfly sums the 32 lanes; lane 0
//       adds the sums into dh_{t-1} (at t = 0: writes dh0). __syncthreads().
//   One grid barrier per step (none after t = 0 when dh0 is not wanted). No atomics: the
//   summation order depends only on the shape, so repeat runs are bitwise equal. A
//   workspace that is not 16-byte aligned takes a scalar-load path (another fixed order).
// Shared memory per CTA: 4*(U*G + 2*B*U) bytes; 132 SMs: seed (H 200, B 32: U = 2, P = 100)
//   6.9 KB; H 512, B 64 (U = 4, P = 128) 34 KB; H 1024, B 64 (U = 8, P = 128) 132 KB (fits
//   the 227 KB opt-in). Fits iff that fits one CTA and all P CTAs are co-resident
//   (lstm_layer_backward_persistent_fits); the launcher throws InvalidArgument otherwise.
// Per step per CTA: 2*B*U*G FLOPs, B*G*4 bytes of dz read from L2 (seed: 102 KB; all
//   P CTAs together 10 MB per step, est. 1.5-2 us of L2 bandwidth: the expected
//   bottleneck), B*U*G bytes of R from shared memory. Critical path per step: grid.sync +
//   that L2 read + the pointwise step (est. 3-4 us at the seed; docs/kernels.md).
// Test: tests/kernels/lstm_layer_cuda_test.cpp (PersistentBackward*).
#include <cooperative_groups.h>

#include <cstdint>
#include <string>
#include <tuple>

#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/lstm_layer.h"
#include "kernels/persistent_plan.cuh"

namespace melodl::cuda {
namespace {
namespace cg = cooperative_groups;
using detail::ceil_div;
using detail::tanh_act;

constexpr int kThreads = 256;  // 8 warps: phase (B) takes batch rows warp by warp
constexpr int kWarps = kThreads / 32;

struct BwdParams {
  int T, B, H, U;
  const float* R;      // [H,G]
  const float* p;      // [3,H] or null (no peepholes)
  const float* c0;     // [B,H]
  const float* cs;     // [T,B,H]
  const float* gates;  // [T,B,G] activations i, f, g, o
  const float* dhs;    // [T,B,H]
  const float* dh_T;   // [B,H] or null
  const float* dc_T;   // [B,H] or null
  float* dz;           // [T,B,G] out (workspace)
  float* dp_part;      // [T,B,3H] out (workspace; peepholes only)
  float* dh0;          // [B,H] out or null
  float* dc0;          // [B,H] out or null
};

// Phase (B) for one group of kRB batch rows [b0, b0+nr) and kUC own units [u0, u0+nuc): the
// lane-strided partial dot products acc[r][q] = sum_{j = lane (mod 32 lanes)} dz[b0+r, j]
// Rs[u0+q, j], then a fixed xor-butterfly over the warp (every lane ends with the same sums).
// kVec: dz rows read as float4 (needs 16-byte alignment: G = 4H floats per row, so only the
// workspace's base pointer matters) and Rs rows as float4; otherwise scalar. In both cases
// each lane adds its terms in increasing j, so the order depends only on the shape.
template <int kRB, int kUC, bool kVec>
__device__ __forceinline__ void row_group_dots(const float* dz_t, const float* Rs, int G, int b0,
                                               int nr, int u0, int nuc, int lane,
                                               float (&acc)[kRB][kUC]) {
#pragma unroll
  for (int r = 0; r < kRB; ++r)
#pragma unroll
    for (int q = 0; q < kUC; ++q) acc[r][q] = 0.f;
  if constexpr (kVec) {
    const int G4 = G / 4;
    const float4* dz4 = reinterpret_cast<const float4*>(dz_t) + static_cast<int64_t>(b0) * G4;
    const float4* Rs4 = reinterpret_cast<const float4*>(Rs);
#pragma unroll 2
    for (int j4 = lane; j4 < G4; j4 += 32) {
      float4 d[kRB];
#pragma unroll
      for (int r = 0; r < kRB; ++r)
        d[r] = r < nr ? __ldcg(dz4 + r * G4 + j4) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int q = 0; q < kUC; ++q) {
        if (q < nuc) {
          const float4 w = Rs4[(u0 + q) * G4 + j4];
#pragma unroll
          for (int r = 0; r < kRB; ++r) {
            acc[r][q] += d[r].x * w.x;
            acc[r][q] += d[r].y * w.y;
            acc[r][q] += d[r].z * w.z;
            acc[r][q] += d[r].w * w.w;
          }
        }
      }
    }
  } else {
    const float* dz = dz_t + static_cast<int64_t>(b0) * G;
#pragma unroll 4
    for (int j = lane; j < G; j += 32) {
      float d[kRB];
#pragma unroll
      for (int r = 0; r < kRB; ++r) d[r] = r < nr ? __ldcg(dz + r * G + j) : 0.f;
#pragma unroll
      for (int q = 0; q < kUC; ++q) {
        if (q < nuc) {
          const float w = Rs[(u0 + q) * G + j];
#pragma unroll
          for (int r = 0; r < kRB; ++r) acc[r][q] += d[r] * w;
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRB; ++r)
#pragma unroll
    for (int q = 0; q < kUC; ++q)
#pragma unroll
      for (int off = 16; off > 0; off >>= 1)
        acc[r][q] += __shfl_xor_sync(0xffffffffu, acc[r][q], off);
}

// A hint: start moving the line at p into L1 (no register, no fault, results unchanged). Used
// for the next step's read-only inputs of (A), which the kernel never writes, so the L1
// copies cannot be stale.
__device__ __forceinline__ void prefetch_l1(const float* p) {
  asm volatile("prefetch.global.L1 [%0];" ::"l"(p));
}

constexpr int kRB = 4;  // batch rows per warp pass in phase (B): each R value feeds 4 rows

// kUC: own units per pass over the dz rows in phase (B) (register accumulators); the
// launcher picks the smallest of 1, 2, 4, 8 that is >= U (8 when U > 8: several passes).
// kVec: the float4 path (16-byte aligned workspace), else scalar loads.
template <bool kPeephole, int kUC, bool kVec>
__global__ void __launch_bounds__(kThreads) persistent_bwd_kernel(BwdParams prm) {
  cg::grid_group grid = cg::this_grid();
  extern __shared__ float4 smem4[];  // float4: 16-byte aligned rows for the kVec path
  float* smem = reinterpret_cast<float*>(smem4);
  const int B = prm.B, H = prm.H, U = prm.U, G = 4 * H;
  const int64_t BH = static_cast<int64_t>(B) * H, BG = static_cast<int64_t>(B) * G;
  float* Rs = smem;            // [U][G]: Rs[u*G + j] = R[j0 + u, j]; rows u >= nu are 0
  float* dh_s = Rs + U * G;    // [B][U]: dL/dh_t of the own units (dhs[t] + recurrent part)
  float* dc_s = dh_s + B * U;  // [B][U]: dL/dc_t of the own units (from step t+1)
  const int j0 = blockIdx.x * U;
  const int nu = min(U, H - j0);  // units owned by this CTA (>= 1 by construction)
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  for (int e = threadIdx.x; e < U * G; e += kThreads) {
    const int u = e / G, j = e - u * G;
    Rs[e] = u < nu ? prm.R[static_cast<int64_t>(j0 + u) * G + j] : 0.f;
  }
  const float* dh_last = prm.dhs + (prm.T - 1) * BH;  // [B,H]
  for (int e = threadIdx.x; e < B * U; e += kThreads) {
    const int bi = e / U, u = e - bi * U;
    float dh = 0.f, dc = 0.f;
    if (u < nu) {
      const int64_t idx = static_cast<int64_t>(bi) * H + j0 + u;
      dh = dh_last[idx];
      if (prm.dh_T) dh += prm.dh_T[idx];
      if (prm.dc_T) dc = prm.dc_T[idx];
    }
    dh_s[e] = dh;
    dc_s[e] = dc;
  }
  __syncthreads();

  for (int t = prm.T - 1; t >= 0; --t) {
    // (A) pointwise backward of step t for the own units: same math as
    // pointwise_bwd_kernel in kernels/lstm_pointwise.cu.
    const float* g_t = prm.gates + t * BG;                         // [B,G]
    const float* c_t = prm.cs + t * BH;                            // [B,H]
    const float* c_p = t ? prm.cs + (t - 1) * BH : prm.c0;         // [B,H]
    const float* dhs_prev = t ? prm.dhs + (t - 1) * BH : nullptr;  // [B,H]
    float* dz_t = prm.dz + t * BG;                                 // [B,G]
    for (int pair = threadIdx.x; pair < B * nu; pair += kThreads) {
      const int bi = pair / nu, u = pair - bi * nu, j = j0 + u;
      const int64_t idx = static_cast<int64_t>(bi) * H + j;
      const float* gr = g_t + static_cast<int64_t>(bi) * G;  // [G]
      const float i = gr[j], f = gr[H + j], g = gr[2 * H + j], o = gr[3 * H + j];
      const float cp = c_p[idx], cn = c_t[idx], dhv = dh_s[bi * U + u];
      float pi = 0.f, pf = 0.f, po = 0.f;
      if constexpr (kPeephole) {
        pi = prm.p[j];
        pf = prm.p[H + j];
        po = prm.p[2 * H + j];
      }
      const float tc = tanh_act(cn);
      const float dz_o = dhv * tc * o * (1.f - o);
      const float dc = dc_s[bi * U + u] + dhv * o * (1.f - tc * tc) + dz_o * po;
      const float dz_i = dc * g * i * (1.f - i);
      const float dz_f = dc * cp * f * (1.f - f);
      const float dz_g = dc * i * (1.f - g * g);
      float* dzr = dz_t + static_cast<int64_t>(bi) * G;  // [G]
      dzr[j] = dz_i;
      dzr[H + j] = dz_f;
      dzr[2 * H + j] = dz_g;
      dzr[3 * H + j] = dz_o;
      const float dc_prev = dc * f + dz_i * pi + dz_f * pf;
      dc_s[bi * U + u] = dc_prev;
      if (t == 0 && prm.dc0) prm.dc0[idx] = dc_prev;
      // dh_{t-1} starts as dhs[t-1] (loaded now, off the critical path); (B) adds dz_t R^T.
      if (t > 0) {
        dh_s[bi * U + u] = dhs_prev[idx];
        // Prefetch this pair's inputs of step t-1 (gates, c_{t-1}, c_{t-2}) during the
        // barrier and (B).
        const float* gn = gr - BG;
        prefetch_l1(gn + j);
        prefetch_l1(gn + H + j);
        prefetch_l1(gn + 2 * H + j);
        prefetch_l1(gn + 3 * H + j);
        prefetch_l1(c_p + idx);  // c_{t-1}
        prefetch_l1((t > 1 ? c_p - BH : prm.c0) + idx);
      }
      if constexpr (kPeephole) {
        float* dpr = prm.dp_part + (t * static_cast<int64_t>(B) + bi) * 3 * H;  // [3H]
        dpr[j] = dz_i * cp;
        dpr[H + j] = dz_f * cp;
        dpr[2 * H + j] = dz_o * cn;
      }
    }
    if (t == 0 && !prm.dh0) break;  // grid-uniform: nothing is left to compute
    grid.sync();                    // dz_t of every CTA is visible in L2

    // (B) dh_{t-1}[b, k] = dhs[t-1][b, k] + sum_j dz_t[b, j] R[k, j] for the own k (at t = 0:
    // dh0 = the sum): warp w takes the row groups w, w + 8, ... of kRB rows each.
    for (int b0 = warp * kRB; b0 < B; b0 += kWarps * kRB) {
      const int nr = min(kRB, B - b0);
      for (int u0 = 0; u0 < nu; u0 += kUC) {
        const int nuc = nu - u0;  // warp-uniform; only q < nuc are used
        float acc[kRB][kUC];
        row_group_dots<kRB, kUC, kVec>(dz_t, Rs, G, b0, nr, u0, nuc, lane, acc);
        if (lane == 0) {
#pragma unroll
          for (int r = 0; r < kRB; ++r) {
#pragma unroll
            for (int q = 0; q < kUC; ++q) {
              if (r < nr && q < nuc) {
                const int bi = b0 + r, u = u0 + q;
                if (t > 0)
                  dh_s[bi * U + u] += acc[r][q];
                else
                  prm.dh0[static_cast<int64_t>(bi) * H + j0 + u] = acc[r][q];
              }
            }
          }
        }
      }
    }
    __syncthreads();  // dh_s complete before the next step's (A)
  }
}

using KernelFn = void (*)(BwdParams);

template <bool kPeephole, bool kVec>
KernelFn kernel_for_chunk(int uc) {
  switch (uc) {
    case 1:
      return persistent_bwd_kernel<kPeephole, 1, kVec>;
    case 2:
      return persistent_bwd_kernel<kPeephole, 2, kVec>;
    case 4:
      return persistent_bwd_kernel<kPeephole, 4, kVec>;
    default:
      return persistent_bwd_kernel<kPeephole, 8, kVec>;
  }
}

KernelFn kernel_for(bool peephole, int uc, bool vec) {
  if (peephole) return vec ? kernel_for_chunk<true, true>(uc) : kernel_for_chunk<true, false>(uc);
  return vec ? kernel_for_chunk<false, true>(uc) : kernel_for_chunk<false, false>(uc);
}

struct Plan {
  int U = 0, P = 0;
  size_t smem = 0;
  KernelFn kernel = nullptr;
  std::string why_not;  // empty when the shape fits
};

// The launch plan for (B, H, variant, U) on the current device: computed once per (device,
// shape, variant) (kernels/persistent_plan.cuh: device limits and occupancy cached, the
// shared-memory attribute raised once to the device's maximum, never lowered).
Plan plan_for(int B, int H, bool peephole, bool vec, int units_per_cta) {
  static detail::PlanCache<std::tuple<int, int, int, bool, bool, int>, Plan> cache;
  int dev = 0;
  MELODL_CUDA_CHECK(cudaGetDevice(&dev));
  return cache.get({dev, B, H, peephole, vec, units_per_cta}, [&] {
    Plan pl;
    const detail::DeviceLimits d = detail::device_limits();
    if (!d.cooperative) {
      pl.why_not = "device does not support cooperative launch";
      return pl;
    }
    pl.U = units_per_cta > 0 ? units_per_cta : static_cast<int>(ceil_div(H, d.sms));
    pl.P = static_cast<int>(ceil_div(H, pl.U));
    const int uc = pl.U <= 1 ? 1 : pl.U <= 2 ? 2 : pl.U <= 4 ? 4 : 8;
    pl.kernel = kernel_for(peephole, uc, vec);
    const size_t U = static_cast<size_t>(pl.U);
    pl.smem = sizeof(float) * (U * 4 * static_cast<size_t>(H) + 2 * static_cast<size_t>(B) * U);
    if (pl.smem > static_cast<size_t>(d.smem_optin)) {
      pl.why_not = "needs " + std::to_string(pl.smem) + " bytes of shared memory per CTA, device " +
                   "allows " + std::to_string(d.smem_optin);
      return pl;
    }
    if (detail::blocks_per_sm(reinterpret_cast<const void*>(pl.kernel), d, kThreads, pl.smem) *
            d.sms <
        pl.P)
      pl.why_not = std::to_string(pl.P) + " CTAs cannot be co-resident";
    return pl;
  });
}

}  // namespace

bool lstm_layer_backward_persistent_fits(int B, int H, int units_per_cta) {
  constexpr const char* kWhere = "cuda::lstm_layer_backward_persistent_fits";
  require(B >= 1 && H >= 1, kWhere, "B, H must be >= 1");
  require(units_per_cta >= 0 && units_per_cta <= H, kWhere,
          "units_per_cta must be in [0, H] (0: automatic)");
  for (const bool peephole : {true, false})
    for (const bool vec : {true, false})
      if (!plan_for(B, H, peephole, vec, units_per_cta).why_not.empty()) return false;
  return true;
}

void lstm_layer_backward_persistent(const LayerBwdArgs& a, const ExecContext& ctx,
                                    int units_per_cta) {
  constexpr const char* kWhere = "cuda::lstm_layer_backward_persistent";
  detail::validate_layer_backward(a, ctx, kWhere);
  require(units_per_cta >= 0 && units_per_cta <= a.H, kWhere,
          "units_per_cta must be in [0, H] (0: automatic), got " + std::to_string(units_per_cta));
  // float4 reads of dz when the workspace is 16-byte aligned (cudaMalloc's always is).
  const bool vec = reinterpret_cast<uintptr_t>(a.workspace) % 16 == 0;
  const Plan pl = plan_for(a.B, a.H, a.peephole, vec, units_per_cta);
  require(pl.why_not.empty(), kWhere,
          "shape B=" + std::to_string(a.B) + " H=" + std::to_string(a.H) +
              " (U=" + std::to_string(pl.U) + ") does not fit: " + pl.why_not +
              " (use lstm_layer_backward)");
  const int64_t N = static_cast<int64_t>(a.T) * a.B, G = 4 * static_cast<int64_t>(a.H);
  // Workspace carve-up as in variant (a) (lstm_layer_bwd_workspace_floats); the trailing
  // dh, dc [B,H] are not used: they live in shared memory here.
  float* dz = a.workspace;      // [T,B,G]
  float* dp_part = dz + N * G;  // [T,B,3H]
  BwdParams prm{a.T,  a.B,     a.H,     pl.U,  a.R,    a.peephole ? a.p : nullptr,
                a.c0, a.cs,    a.gates, a.dhs, a.dh_T, a.dc_T,
                dz,   dp_part, a.dh0,   a.dc0};
  void* args[] = {&prm};
  MELODL_CUDA_CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(pl.kernel),
                                                dim3(pl.P), dim3(kThreads), args, pl.smem,
                                                ctx.stream));
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
  detail::lstm_layer_backward_weight_grads(a, dz, a.peephole ? dp_part : nullptr, ctx);
}

}  // namespace melodl::cuda
