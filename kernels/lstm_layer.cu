// kernels/lstm_layer.cu: GravesLSTM layer over a TBPTT segment on the GPU, variant (a)
// (cuDNN-STANDARD / haste style): everything off the critical path is batched over T.
// Forward: gates [T*B,G] = gather(W, symbols) or x W (one GEMM); then per step t
//   gates_t += h_{t-1} R (cuBLAS, beta = 1) and the fused pointwise kernel (bias, peepholes,
//   activations, c_t, h_t; overwrites gates_t with the activations). 2 launches per step.
// Backward, t = T-1..0: fused pointwise backward on dL/dh_t = dhs[t] + dh (the step adds the
//   two: no copy) -> dz_t, dc in place, peephole partials; then dh = dz_t R^T (GEMM,
//   beta = 0), the recurrent part for step t-1. 2 launches per step.
//   After the loop: dR = hs[0..T-2]^T dz[1..T-1] (one GEMM over (T-1)B rows) + h0^T dz_0;
//   dW = x^T dz (one GEMM) or the one-hot scatter; dx = dz W^T; db, dp = deterministic
//   column sums over the T*B rows. No atomics: bitwise reproducible on one device.
//   That post-recurrence part and the argument checks are detail:: functions shared with
//   variant (b)'s backward (kernels/lstm_layer_persistent_bwd.cu).
// Critical path per step: one GEMM launch + one pointwise launch (~2 x 2-5 us launch-bound
// at the seed size on any GPU; see docs/kernels.md). Variant (b), a persistent kernel, is
// the planned answer.
#include "kernels/cuda_check.cuh"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/lstm_pointwise.h"
#include "kernels/reduce.h"

namespace melodl::cuda {
namespace {
void copy(float* dst, const float* src, int64_t n, const ExecContext& ctx) {
  MELODL_CUDA_CHECK(
      cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream));
}

}  // namespace

void lstm_layer_forward(const LayerFwdArgs& a, const ExecContext& ctx) {
  constexpr const char* kWhere = "cuda::lstm_layer_forward";
  validate_layer(a, kWhere);
  require(a.b && a.hs && a.cs && a.gates, kWhere, "b, hs, cs, gates must be non-null");
  require(ctx.blas != nullptr, kWhere, "ExecContext.blas must be set");
  const int T = a.T, B = a.B, I = a.I, H = a.H, G = 4 * H;
  const int64_t N = static_cast<int64_t>(T) * B, BH = static_cast<int64_t>(B) * H;
  require(N <= 0x7fffffff, kWhere, "T*B must fit in int (cuBLAS)");
  if (a.symbols) {
    gather_rows(GatherArgs{N, I, G, a.symbols, a.W, nullptr, a.gates}, ctx);
  } else {
    gemm(ctx, false, false, static_cast<int>(N), G, I, 1.f, a.x, I, a.W, G, 0.f, a.gates, G);
  }
  for (int t = 0; t < T; ++t) {
    float* z = a.gates + t * B * static_cast<int64_t>(G);  // [B,G]
    const float* h_prev = t ? a.hs + (t - 1) * BH : a.h0;  // [B,H]
    const float* c_prev = t ? a.cs + (t - 1) * BH : a.c0;  // [B,H]
    gemm(ctx, false, false, B, G, H, 1.f, h_prev, H, a.R, G, 1.f, z, G);
    PointwiseFwdArgs pw;
    pw.B = B;
    pw.H = H;
    pw.peephole = a.peephole;
    pw.training = a.training;
    pw.z = z;
    pw.b = a.b;
    pw.p = a.p;
    pw.c_prev = c_prev;
    pw.c = a.cs + t * BH;
    pw.h = a.hs + t * BH;
    pw.gates = z;
    lstm_pointwise_fwd(pw, ctx);
  }
}

namespace detail {

void validate_layer_backward(const LayerBwdArgs& a, const ExecContext& ctx, const char* where) {
  validate_layer(a, where);
  require(a.hs && a.cs && a.gates && a.dhs && a.dW && a.dR && a.db && a.workspace, where,
          "hs, cs, gates, dhs, dW, dR, db, workspace must be non-null");
  require(!a.peephole || a.dp, where, "dp must be non-null when peephole is on");
  require(!(a.dx && a.symbols), where, "dx needs a dense input");
  require(ctx.blas != nullptr, where, "ExecContext.blas must be set");
  require(static_cast<int64_t>(a.T) * a.B <= 0x7fffffff, where, "T*B must fit in int (cuBLAS)");
}

void lstm_layer_backward_weight_grads(const LayerBwdArgs& a, const float* dz, const float* dp_part,
                                      const ExecContext& ctx) {
  const int T = a.T, B = a.B, I = a.I, H = a.H, G = 4 * H;
  const int64_t N = static_cast<int64_t>(T) * B;
  const float beta = a.accumulate ? 1.f : 0.f;
  if (T > 1) {
    gemm(ctx, true, false, H, G, static_cast<int>((T - 1) * static_cast<int64_t>(B)), 1.f, a.hs, H,
         dz + B * static_cast<int64_t>(G), G, beta, a.dR, G);
  } else if (!a.accumulate) {
    MELODL_CUDA_CHECK(
        cudaMemsetAsync(a.dR, 0, static_cast<size_t>(H) * G * sizeof(float), ctx.stream));
  }
  gemm(ctx, true, false, H, G, B, 1.f, a.h0, H, dz, G, 1.f, a.dR, G);
  if (a.symbols) {
    onehot_weight_grad(OnehotGradArgs{N, I, G, a.symbols, dz, a.dW, a.accumulate}, ctx);
  } else {
    gemm(ctx, true, false, I, G, static_cast<int>(N), 1.f, a.x, I, dz, G, beta, a.dW, G);
    if (a.dx) gemm(ctx, false, true, static_cast<int>(N), I, G, 1.f, dz, G, a.W, G, 0.f, a.dx, I);
  }
  column_sum(dz, N, G, a.db, a.accumulate, ctx);
  if (a.peephole) column_sum(dp_part, N, 3 * static_cast<int64_t>(H), a.dp, a.accumulate, ctx);
}

}  // namespace detail

void lstm_layer_backward(const LayerBwdArgs& a, const ExecContext& ctx) {
  constexpr const char* kWhere = "cuda::lstm_layer_backward";
  detail::validate_layer_backward(a, ctx, kWhere);
  const int T = a.T, B = a.B, H = a.H, G = 4 * H;
  const int64_t N = static_cast<int64_t>(T) * B, BH = static_cast<int64_t>(B) * H;
  // Workspace carve-up (lstm_layer_bwd_workspace_floats).
  float* dz = a.workspace;          // [T,B,G]
  float* dp_part = dz + N * G;      // [T,B,3H]
  float* dh = dp_part + N * 3 * H;  // [B,H]
  float* dc = dh + BH;              // [B,H]

  if (a.dc_T)
    copy(dc, a.dc_T, BH, ctx);
  else
    MELODL_CUDA_CHECK(cudaMemsetAsync(dc, 0, BH * sizeof(float), ctx.stream));

  // dL/dh_t = dhs[t] + (recurrent part): the pointwise step adds the two (dh_add), so each
  // step is 2 launches: pointwise backward, then dh = dz_t R^T (beta = 0) for step t-1.
  // The recurrent part of the last step is dh_T (or none).
  for (int t = T - 1; t >= 0; --t) {
    float* dz_t = dz + t * B * static_cast<int64_t>(G);  // [B,G]
    const float* dhs_t = a.dhs + t * BH;                 // [B,H]
    PointwiseBwdArgs pw;
    pw.B = B;
    pw.H = H;
    pw.peephole = a.peephole;
    if (t < T - 1) {
      pw.dh = dh;
      pw.dh_add = dhs_t;
    } else if (a.dh_T) {
      pw.dh = a.dh_T;
      pw.dh_add = dhs_t;
    } else {
      pw.dh = dhs_t;
    }
    pw.dc_next = dc;
    pw.gates = a.gates + t * B * static_cast<int64_t>(G);
    pw.c_prev = t ? a.cs + (t - 1) * BH : a.c0;
    pw.c = a.cs + t * BH;
    pw.p = a.p;
    pw.dz = dz_t;
    pw.dc_prev = dc;
    pw.dp_partial = a.peephole ? dp_part + t * B * 3 * static_cast<int64_t>(H) : nullptr;
    lstm_pointwise_bwd(pw, ctx);
    if (t > 0) {
      gemm(ctx, false, true, B, H, G, 1.f, dz_t, G, a.R, G, 0.f, dh, H);
    } else if (a.dh0) {
      gemm(ctx, false, true, B, H, G, 1.f, dz_t, G, a.R, G, 0.f, a.dh0, H);
    }
  }
  if (a.dc0) copy(a.dc0, dc, BH, ctx);
  detail::lstm_layer_backward_weight_grads(a, dz, dp_part, ctx);
}

}  // namespace melodl::cuda
