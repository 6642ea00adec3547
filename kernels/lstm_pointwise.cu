// kernels/lstm_pointwise.cu: fused GravesLSTM cell step on the GPU, forward and backward.
// Fused (forward): bias add, the three peepholes, four gate nonlinearities, cell update,
// hidden output, saving the gate activations for backward. Backward: the whole cell's
// chain rule for one step, emitting dz [B,G], dc_prev and per-(b,h) peephole partials
// (reduced later, deterministically, by column_sum in kernels/reduce.cu: no atomics, so
// repeat runs are bitwise equal).
// Thread mapping: one thread per (b, h), 1-D grid over B*H; a warp reads 32 consecutive h
// of each gate block, so every load/store is coalesced.
// Napkin traffic per step (fp32): forward reads z [B,G] + c_prev [B,H] (+ b, p, cached),
// writes c, h [B,H] + gates [B,G] = 4*B*(4H + H + 2H + 4H) = 44*B*H bytes; backward reads
// dh, dc_next, gates, c_prev, c and writes dz, dc_prev, dp_partial = 4*B*H*(4+4+4+4+1+3+1+1+1)
// ~ 76*B*H bytes. ~30 FLOPs and 5 transcendentals per unit: memory/latency bound.
// Spec: kernels/lstm_pointwise_ref.cpp. Test: tests/kernels/lstm_pointwise_cuda_test.cpp.
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/lstm_pointwise.h"

namespace melodl::cuda {
namespace {

using detail::ceil_div;
using detail::sigmoid;
using detail::tanh_act;

// 256 threads: enough warps per SM to hide latency, small enough that B*H = 32*200 still
// spreads over 25 blocks.
constexpr int kBlock = 256;

template <bool kTraining, bool kPeephole>
__global__ void __launch_bounds__(kBlock)
    pointwise_fwd_kernel(int B, int H,
                         const float* z,                    // [B,G] (may alias gates)
                         const float* __restrict__ b,       // [G]
                         const float* __restrict__ p,       // [3,H]
                         const float* __restrict__ c_prev,  // [B,H]
                         float* __restrict__ c,             // [B,H]
                         float* __restrict__ h,             // [B,H]
                         float* gates) {                    // [B,G]
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(B) * H) return;
  const int64_t bi = idx / H;
  const int j = static_cast<int>(idx - bi * H);
  const int64_t G = 4 * static_cast<int64_t>(H);
  const float* zr = z + bi * G;  // [G]
  const float cp = c_prev[idx];
  const float zi = zr[j], zf = zr[H + j], zg = zr[2 * H + j], zo = zr[3 * H + j];
  float pi = 0.f, pf = 0.f, po = 0.f;
  if constexpr (kPeephole) {
    pi = p[j];
    pf = p[H + j];
    po = p[2 * H + j];
  }
  const float i = sigmoid(zi + b[j] + pi * cp);
  const float f = sigmoid(zf + b[H + j] + pf * cp);
  const float g = tanh_act(zg + b[2 * H + j]);
  const float cn = f * cp + i * g;
  const float o = sigmoid(zo + b[3 * H + j] + po * cn);
  c[idx] = cn;
  h[idx] = o * tanh_act(cn);
  if constexpr (kTraining) {
    float* gr = gates + bi * G;  // [G]
    gr[j] = i;
    gr[H + j] = f;
    gr[2 * H + j] = g;
    gr[3 * H + j] = o;
  }
}

template <bool kPeephole>
__global__ void __launch_bounds__(kBlock)
    pointwise_bwd_kernel(int B, int H,
                         const float* __restrict__ dh,      // [B,H]
                         const float* __restrict__ dh_add,  // [B,H] or null
                         const float* dc_next,              // [B,H] (may alias dc_prev)
                         const float* __restrict__ gates,   // [B,G]
                         const float* __restrict__ c_prev,  // [B,H]
                         const float* __restrict__ c,       // [B,H]
                         const float* __restrict__ p,       // [3,H]
                         float* __restrict__ dz,            // [B,G]
                         float* dc_prev,                    // [B,H]
                         float* __restrict__ dp_partial) {  // [B,3H]
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(B) * H) return;
  const int64_t bi = idx / H;
  const int j = static_cast<int>(idx - bi * H);
  const int64_t G = 4 * static_cast<int64_t>(H);
  const float* gr = gates + bi * G;  // [G]
  const float i = gr[j], f = gr[H + j], g = gr[2 * H + j], o = gr[3 * H + j];
  const float cp = c_prev[idx], cn = c[idx], dhv = dh_add ? dh[idx] + dh_add[idx] : dh[idx];
  float pi = 0.f, pf = 0.f, po = 0.f;
  if constexpr (kPeephole) {
    pi = p[j];
    pf = p[H + j];
    po = p[2 * H + j];
  }
  const float tc = tanh_act(cn);
  const float dz_o = dhv * tc * o * (1.f - o);
  const float dc = dc_next[idx] + dhv * o * (1.f - tc * tc) + dz_o * po;
  const float dz_i = dc * g * i * (1.f - i);
  const float dz_f = dc * cp * f * (1.f - f);
  const float dz_g = dc * i * (1.f - g * g);
  float* dzr = dz + bi * G;  // [G]
  dzr[j] = dz_i;
  dzr[H + j] = dz_f;
  dzr[2 * H + j] = dz_g;
  dzr[3 * H + j] = dz_o;
  dc_prev[idx] = dc * f + dz_i * pi + dz_f * pf;
  if constexpr (kPeephole) {
    float* dpr = dp_partial + bi * 3 * static_cast<int64_t>(H);  // [3H]
    dpr[j] = dz_i * cp;
    dpr[H + j] = dz_f * cp;
    dpr[2 * H + j] = dz_o * cn;
  }
}

dim3 grid_for(int B, int H) {
  return dim3(static_cast<unsigned>(ceil_div(static_cast<int64_t>(B) * H, kBlock)));
}

}  // namespace

void lstm_pointwise_fwd(const PointwiseFwdArgs& a, const ExecContext& ctx) {
  validate(a, "cuda::lstm_pointwise_fwd");
  if (a.B == 0 || a.H == 0) return;
  const dim3 grid = grid_for(a.B, a.H);
  // Runtime flags -> template arguments, in one place.
  auto launch = [&](auto kernel) {
    kernel<<<grid, kBlock, 0, ctx.stream>>>(a.B, a.H, a.z, a.b, a.p, a.c_prev, a.c, a.h, a.gates);
  };
  if (a.training) {
    if (a.peephole)
      launch(pointwise_fwd_kernel<true, true>);
    else
      launch(pointwise_fwd_kernel<true, false>);
  } else {
    if (a.peephole)
      launch(pointwise_fwd_kernel<false, true>);
    else
      launch(pointwise_fwd_kernel<false, false>);
  }
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
}

void lstm_pointwise_bwd(const PointwiseBwdArgs& a, const ExecContext& ctx) {
  validate(a, "cuda::lstm_pointwise_bwd");
  if (a.B == 0 || a.H == 0) return;
  const dim3 grid = grid_for(a.B, a.H);
  auto launch = [&](auto kernel) {
    kernel<<<grid, kBlock, 0, ctx.stream>>>(a.B, a.H, a.dh, a.dh_add, a.dc_next, a.gates, a.c_prev,
                                            a.c, a.p, a.dz, a.dc_prev, a.dp_partial);
  };
  if (a.peephole)
    launch(pointwise_bwd_kernel<true>);
  else
    launch(pointwise_bwd_kernel<false>);
  MELODL_CUDA_CHECK_LAUNCH(ctx.stream);
}

}  // namespace melodl::cuda
