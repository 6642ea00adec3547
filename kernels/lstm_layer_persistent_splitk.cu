// kernels/lstm_layer_persistent_splitk.cu: GravesLSTM layer forward, variant (c): one
// persistent cooperative kernel runs all T steps, like variant (b) (lstm_layer_persistent.cu),
// with the dot products reorganised for shared-memory bandwidth: split-k across lanes with
// 16-byte loads, register blocking over 4 batch rows x 4 gates, and an xor-shuffle reduction.
// FP32 SIMT; the same contract and outputs as lstm_layer_forward (hs, cs, gates).
// Mapping (geometry: kernels/lstm_layer_persistent_splitk.h): P CTAs of 256 threads, CTA c
//   owns hidden units [c*U, c*U+U) with all four gates, so the peephole cell update is
//   CTA-local. Its R slice is transposed into shared memory once: one row of Hp floats per
//   (unit, gate) column, k along the row (Hp = H rounded up to 4, +4 when a multiple of 8,
//   zero tail). Per step, per batch tile of Bt rows (all of B when it fits): the tile of
//   h_{t-1} is copied into shared memory (16-byte __ldcg loads from L2 when H % 4 == 0 and the
//   state is 16-byte aligned, else scalar loads); a task = (4 batch rows, 1 unit) is the 16
//   dot products of those rows with the unit's 4 gate columns. L lanes share a task: lane l
//   takes the float4 chunks l, l+L, ... of the row, so a quarter-warp reads 128 contiguous
//   bytes (L >= 8) or two 64-byte halves 16 banks apart (L = 4; see row_stride), and every
//   loaded R chunk feeds 4 rows, every h chunk 4 gates (16 FMAs per 8 float4 loads). Two
//   reduce-scatter steps (__shfl_xor_sync over L/2, then L/4) halve the 16 partial sums to 4,
//   leaving each lane the 4 gate sums of one row, and a butterfly over the remaining lane
//   bits completes them; one lane per row applies the fused cell update (bias, peepholes,
//   activations) and writes c_t, h_t and the gates. grid.sync() ends the step.
// Determinism: the split, the summation order and the reduction tree depend only on
//   (B, H, #SMs, options); no atomics, so repeat runs are bitwise equal.
// Host side planned once (kernels/persistent_plan.cuh, as variant (b)): device limits per
//   device, the geometry and co-residency per (device, kernel, B, H, options), and the dynamic
//   shared-memory attribute raised once per (device, kernel) to the device's opt-in limit
//   (never lowered); a launch looks its plan up.
// Shared memory per CTA: 4*(4U + Bt)*Hp bytes. Tests: tests/kernels/lstm_layer_cuda_test.cpp
// (PersistentSplitK*), the CPU transcription in
// tests/kernels/lstm_layer_splitk_transcription_test.cpp. Bench: bench/lstm_layer_cuda_bench.cu
// (variant bit 2).
#include <cooperative_groups.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>

#include "kernels/cuda_check.cuh"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/launch.cuh"
#include "kernels/lstm_layer.h"
#include "kernels/lstm_layer_persistent_splitk.h"
#include "kernels/persistent_plan.cuh"

namespace melodl::cuda {
namespace {
namespace cg = cooperative_groups;
using detail::sigmoid;
using detail::tanh_act;
using splitk::kRowsPerTask;
using splitk::kThreads;
using splitk::kVec;

constexpr int kCopyBatch = 4;  // loads each thread has in flight while copying h_{t-1}

struct SplitKParams {
  int T, B, H, U, Hp, Bt, L;
  bool vec_copy;    // h0 and hs 16-byte aligned and H % 4 == 0: copy h_{t-1} as float4
  const float* R;   // [H,G]
  const float* b;   // [G]
  const float* p;   // [3,H] or null
  const float* h0;  // [B,H]
  const float* c0;  // [B,H]
  float* hs;        // [T,B,H]
  float* cs;        // [T,B,H]
  float* gates;     // [T,B,G]: in: input projection z (no bias); out: activations (training)
};

__device__ __forceinline__ float4 zero4() { return make_float4(0.f, 0.f, 0.f, 0.f); }

// Copies rows [0, rows) of src (row length H, global memory written by other CTAs: read
// from L2 with __ldcg) into rows of dst (row stride Hp, shared memory). kCopyBatch loads per
// thread are issued before their stores.
__device__ __forceinline__ void copy_tile(const float* src, int rows, int H, int Hp, bool vec,
                                          float* dst) {
  if (vec) {
    const int n4 = H / kVec, total = rows * n4;
    const float4* s4 = reinterpret_cast<const float4*>(src);
    for (int e0 = threadIdx.x; e0 < total; e0 += kThreads * kCopyBatch) {
      float4 v[kCopyBatch];
#pragma unroll
      for (int s = 0; s < kCopyBatch; ++s) {
        const int e = e0 + s * kThreads;
        v[s] = e < total ? __ldcg(s4 + e) : zero4();
      }
#pragma unroll
      for (int s = 0; s < kCopyBatch; ++s) {
        const int e = e0 + s * kThreads;
        if (e < total) {
          const int r = e / n4, c = e - r * n4;
          *reinterpret_cast<float4*>(dst + r * Hp + kVec * c) = v[s];
        }
      }
    }
  } else {
    const int total = rows * H;
    for (int e0 = threadIdx.x; e0 < total; e0 += kThreads * kCopyBatch) {
      float v[kCopyBatch];
#pragma unroll
      for (int s = 0; s < kCopyBatch; ++s) {
        const int e = e0 + s * kThreads;
        v[s] = e < total ? __ldcg(src + e) : 0.f;
      }
#pragma unroll
      for (int s = 0; s < kCopyBatch; ++s) {
        const int e = e0 + s * kThreads;
        if (e < total) {
          const int r = e / H, k = e - r * H;
          dst[r * Hp + k] = v[s];
        }
      }
    }
  }
}

template <bool kTraining, bool kPeephole>
__global__ void __launch_bounds__(kThreads, 1) splitk_fwd_kernel(SplitKParams prm) {
  cg::grid_group grid = cg::this_grid();
  extern __shared__ __align__(16) float smem[];
  const int B = prm.B, H = prm.H, U = prm.U, Hp = prm.Hp, Bt = prm.Bt, L = prm.L;
  const int G = 4 * H, C = Hp / kVec, Bp = splitk::round_up(B, kRowsPerTask);
  const int64_t BH = static_cast<int64_t>(B) * H;
  float* Rs = smem;               // [4U][Hp]: Rs[(u*4+q)*Hp + k] = R[k, q*H + j0 + u]
  float* ht = smem + 4 * U * Hp;  // [Bt][Hp]: rows of the current batch tile of h_{t-1}
  const int j0 = blockIdx.x * U;
  const int nu = min(U, H - j0);  // units owned by this CTA (>= 1 by construction)

  // R slice, k-major reads (consecutive threads: consecutive units of one gate block).
  for (int e = threadIdx.x; e < 4 * U * Hp; e += kThreads) {
    const int k = e / (4 * U), w = e - k * 4 * U, q = w / U, u = w - q * U;
    Rs[(u * 4 + q) * Hp + k] =
        (u < nu && k < H) ? prm.R[static_cast<int64_t>(k) * G + q * H + j0 + u] : 0.f;
  }
  // Zero the tile once: the copies below write only k < H of valid rows, so the padding
  // columns stay 0 (0 * 0 adds nothing) and unused rows hold 0 or an earlier tile's h.
  for (int e = threadIdx.x; e < Bt * Hp; e += kThreads) ht[e] = 0.f;
  __syncthreads();

  // This thread's place: task group g (L lanes, within one warp), lane l in it.
  const int g = threadIdx.x / L, l = threadIdx.x - g * L, ngroups = kThreads / L;
  const int lane = threadIdx.x & 31;
  const unsigned mask = L == 32 ? 0xffffffffu : ((1u << L) - 1u) << (lane - l);
  const int m1 = L / 2, m2 = L / 4;  // the two reduce-scatter steps
  const bool hi1 = (l & m1) != 0, hi2 = (l & m2) != 0;
  const int my_row = splitk::row_of_lane(l, L);
  const bool writer = splitk::lane_writes(l, L);

  for (int t = 0; t < prm.T; ++t) {
    const float* h_prev = t ? prm.hs + (t - 1) * BH : prm.h0;  // [B,H]
    const float* c_prev = t ? prm.cs + (t - 1) * BH : prm.c0;  // [B,H]
    float* z_t = prm.gates + t * static_cast<int64_t>(B) * G;  // [B,G]
    for (int bt0 = 0; bt0 < Bp; bt0 += Bt) {
      const int rows = min(Bt, B - bt0);    // rows of h to copy (>= 1)
      const int trows = min(Bt, Bp - bt0);  // rows of this tile, a multiple of 4
      if (bt0 > 0) __syncthreads();         // the previous tile's tasks are done with ht
      copy_tile(h_prev + static_cast<int64_t>(bt0) * H, rows, H, Hp, prm.vec_copy, ht);
      __syncthreads();
      const int ntask = trows / kRowsPerTask * nu;
      for (int tau = g; tau < ntask; tau += ngroups) {
        const int u = splitk::task_unit(tau, nu), row0 = splitk::task_block(tau, nu) * 4;
        const int j = j0 + u, bi = bt0 + row0 + my_row;
        const bool writes = writer && bi < B;
        // Inputs of the cell update, loaded before the dot products to hide their latency.
        float zq[4] = {0.f, 0.f, 0.f, 0.f}, cp = 0.f;
        float* zr = z_t + static_cast<int64_t>(writes ? bi : 0) * G;  // [G]
        if (writes) {
#pragma unroll
          for (int q = 0; q < 4; ++q) zq[q] = zr[q * H + j];
          cp = __ldcg(c_prev + static_cast<int64_t>(bi) * H + j);
        }
        float acc[4][4];  // [task row][gate]
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int q = 0; q < 4; ++q) acc[i][q] = 0.f;
        const float4* h4 = reinterpret_cast<const float4*>(ht + row0 * Hp);   // 4 rows
        const float4* r4 = reinterpret_cast<const float4*>(Rs + u * 4 * Hp);  // 4 rows
        for (int c = l; c < C; c += L) {
          float4 hv[4], rv[4];
#pragma unroll
          for (int i = 0; i < 4; ++i) hv[i] = h4[i * C + c];
#pragma unroll
          for (int q = 0; q < 4; ++q) rv[q] = r4[q * C + c];
#pragma unroll
          for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int q = 0; q < 4; ++q) {
              float a = acc[i][q];
              a = fmaf(hv[i].x, rv[q].x, a);
              a = fmaf(hv[i].y, rv[q].y, a);
              a = fmaf(hv[i].z, rv[q].z, a);
              a = fmaf(hv[i].w, rv[q].w, a);
              acc[i][q] = a;
            }
        }
        // Reduce-scatter over rows: lanes with bit m1 set keep rows 2,3, the others 0,1 ...
        float s2[2][4];
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const float send = hi1 ? acc[i][q] : acc[i + 2][q];
            const float keep = hi1 ? acc[i + 2][q] : acc[i][q];
            s2[i][q] = keep + __shfl_xor_sync(mask, send, m1);
          }
        // ... then bit m2 picks one of the two: this lane's row is my_row.
        float s[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float send = hi2 ? s2[0][q] : s2[1][q];
          const float keep = hi2 ? s2[1][q] : s2[0][q];
          s[q] = keep + __shfl_xor_sync(mask, send, m2);
        }
        // Butterfly over the remaining lane bits (a + b == b + a: partners agree bitwise).
        for (int m = L / 8; m >= 1; m >>= 1)
#pragma unroll
          for (int q = 0; q < 4; ++q) s[q] += __shfl_xor_sync(mask, s[q], m);
        if (writes) {
          float pi = 0.f, pf = 0.f, po = 0.f;
          if constexpr (kPeephole) {
            pi = __ldg(prm.p + j);
            pf = __ldg(prm.p + H + j);
            po = __ldg(prm.p + 2 * H + j);
          }
          const float i_g = sigmoid(zq[0] + s[0] + __ldg(prm.b + j) + pi * cp);
          const float f_g = sigmoid(zq[1] + s[1] + __ldg(prm.b + H + j) + pf * cp);
          const float g_g = tanh_act(zq[2] + s[2] + __ldg(prm.b + 2 * H + j));
          const float c = f_g * cp + i_g * g_g;
          const float o_g = sigmoid(zq[3] + s[3] + __ldg(prm.b + 3 * H + j) + po * c);
          const int64_t idx = t * BH + static_cast<int64_t>(bi) * H + j;
          prm.cs[idx] = c;
          prm.hs[idx] = o_g * tanh_act(c);
          if constexpr (kTraining) {
            zr[j] = i_g;
            zr[H + j] = f_g;
            zr[2 * H + j] = g_g;
            zr[3 * H + j] = o_g;
          }
        }
      }
    }
    grid.sync();  // h_t, c_t visible to every CTA; ht may be overwritten
  }
}

// ---- Host: plan once, launch many times ------------------------------------------------

struct Plan {
  splitk::Geometry geo;
  std::string why_not;  // empty when the shape runs on this device
};

// The launch plan of one instantiation for (B, H, options) on the current device: computed
// once per (device, shape, options) (kernels/persistent_plan.cuh: device limits and occupancy
// cached, the shared-memory attribute raised once to the device's maximum, never lowered).
template <bool kTraining, bool kPeephole>
Plan plan_for(int B, int H, const PersistentSplitKOptions& opt) {
  static detail::PlanCache<std::tuple<int, int, int, int, int>, Plan> cache;
  int dev = 0;
  MELODL_CUDA_CHECK(cudaGetDevice(&dev));
  return cache.get({dev, B, H, opt.units_per_cta, opt.batch_tile}, [&] {
    Plan pl;
    const detail::DeviceLimits d = detail::device_limits();
    if (!d.cooperative) {
      pl.why_not = "device does not support cooperative launch";
      return pl;
    }
    pl.geo = splitk::make_geometry(B, H, d.sms, static_cast<std::size_t>(d.smem_optin),
                                   opt.units_per_cta, opt.batch_tile);
    pl.why_not = pl.geo.why_not;
    if (!pl.why_not.empty()) return pl;
    const void* kernel = reinterpret_cast<const void*>(splitk_fwd_kernel<kTraining, kPeephole>);
    const int per_sm = detail::blocks_per_sm(kernel, d, kThreads, pl.geo.smem_bytes);
    if (static_cast<long long>(per_sm) * d.sms < pl.geo.P)
      pl.why_not = std::to_string(pl.geo.P) + " CTAs cannot be co-resident (" +
                   std::to_string(per_sm) + " per SM, " + std::to_string(d.sms) + " SMs)";
    return pl;
  });
}

void validate_options(int H, const PersistentSplitKOptions& opt, const char* where) {
  require(opt.units_per_cta >= 0 && opt.units_per_cta <= H, where,
          "units_per_cta must be in [0, H] (0 = automatic), got " +
              std::to_string(opt.units_per_cta) + " with H=" + std::to_string(H));
  require(opt.batch_tile >= 0 && opt.batch_tile % kRowsPerTask == 0, where,
          "batch_tile must be 0 (automatic) or a positive multiple of 4, got " +
              std::to_string(opt.batch_tile));
}

template <bool kTraining, bool kPeephole>
void launch_splitk(const LayerFwdArgs& a, const ExecContext& ctx,
                   const PersistentSplitKOptions& opt) {
  const Plan pl = plan_for<kTraining, kPeephole>(a.B, a.H, opt);
  require(pl.why_not.empty(), "cuda::lstm_layer_forward_persistent_splitk",
          "shape B=" + std::to_string(a.B) + " H=" + std::to_string(a.H) +
              " does not fit: " + pl.why_not + " (use lstm_layer_forward)");
  const auto aligned = [](const float* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool vec_copy = a.H % kVec == 0 && aligned(a.h0) && aligned(a.hs);
  SplitKParams prm{a.T, a.B, a.H, pl.geo.U, pl.geo.Hp, pl.geo.Bt, pl.geo.L, vec_copy,
                   a.R, a.b, a.p, a.h0,     a.c0,      a.hs,      a.cs,     a.gates};
  void* args[] = {&prm};
  MELODL_CUDA_CHECK(cudaLaunchCooperativeKernel(
      reinterpret_cast<const void*>(splitk_fwd_kernel<kTraining, kPeephole>), dim3(pl.geo.P),
      dim3(kThreads), args, pl.geo.smem_bytes, ctx.stream));
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
}

}  // namespace

bool lstm_layer_forward_persistent_splitk_fits(int B, int H, const PersistentSplitKOptions& opt) {
  constexpr const char* kWhere = "cuda::lstm_layer_forward_persistent_splitk_fits";
  require(B >= 1 && H >= 1, kWhere, "B, H must be >= 1");
  validate_options(H, opt, kWhere);
  return plan_for<true, true>(B, H, opt).why_not.empty() &&
         plan_for<true, false>(B, H, opt).why_not.empty() &&
         plan_for<false, true>(B, H, opt).why_not.empty() &&
         plan_for<false, false>(B, H, opt).why_not.empty();
}

void lstm_layer_forward_persistent_splitk(const LayerFwdArgs& a, const ExecContext& ctx,
                                          const PersistentSplitKOptions& opt) {
  constexpr const char* kWhere = "cuda::lstm_layer_forward_persistent_splitk";
  validate_layer(a, kWhere);
  require(a.b && a.hs && a.cs && a.gates, kWhere, "b, hs, cs, gates must be non-null");
  require(ctx.math == GemmMath::kTf32 || ctx.math == GemmMath::kFp32, kWhere,
          "variant (c) computes the recurrence in fp32 and has no bf16 mode (GemmMath " +
              std::to_string(static_cast<int>(ctx.math)) + "); use variant (b) for kBf16");
  validate_options(a.H, opt, kWhere);
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
      launch_splitk<true, true>(a, ctx, opt);
    else
      launch_splitk<true, false>(a, ctx, opt);
  } else {
    if (a.peephole)
      launch_splitk<false, true>(a, ctx, opt);
    else
      launch_splitk<false, false>(a, ctx, opt);
  }
}

bool lstm_layer_forward_persistent_fits(int B, int H, PersistentFwd which) {
  switch (which) {
    case PersistentFwd::kB:
      return lstm_layer_forward_persistent_fits(B, H);
    case PersistentFwd::kC:
      return lstm_layer_forward_persistent_splitk_fits(B, H);
  }
  throw InvalidArgument("[cuda::lstm_layer_forward_persistent_fits] unknown PersistentFwd " +
                        std::to_string(static_cast<int>(which)));
}

void lstm_layer_forward_persistent(const LayerFwdArgs& a, const ExecContext& ctx,
                                   PersistentFwd which) {
  switch (which) {
    case PersistentFwd::kB:
      lstm_layer_forward_persistent(a, ctx);
      return;
    case PersistentFwd::kC:
      lstm_layer_forward_persistent_splitk(a, ctx);
      return;
  }
  throw InvalidArgument("[cuda::lstm_layer_forward_persistent] unknown PersistentFwd " +
                        std::to_string(static_cast<int>(which)));
}

}  // namespace melodl::cuda
