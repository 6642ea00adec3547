// kernels/lstm_layer.h: one GravesLSTM layer over a whole TBPTT segment, forward and
// backward, on device pointers (variant (a): per step one cuBLAS GEMM h_{t-1} R plus the
// fused pointwise kernel; input projection for all T steps hoisted: a row gather for a
// one-hot input, one GEMM for a dense one). CUDA-free. Spec: kernels/lstm_layer_ref.cpp,
// built from the pointwise, gather, GEMM and reduction references.
// Tests: tests/kernels/lstm_layer_ref_test.cpp, tests/kernels/lstm_layer_cuda_test.cpp.
// Bench: bench/lstm_layer_cuda_bench.cu.
//
//   z_t = x_t W + h_{t-1} R + b;  i = sigmoid(z_i + p_i c_{t-1});  f = sigmoid(z_f + p_f c_{t-1})
//   g = tanh(z_g);  c_t = f c_{t-1} + i g;  o = sigmoid(z_o + p_o c_t);  h_t = o tanh(c_t)
// Gate blocks along G = 4H: i, f, g, o. Layer 0 takes symbols [T,B] (x_t = onehot, I = V).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common.h"

namespace melodl {

template <typename Scalar>
struct LayerFwdArgsT {
  int T = 0, B = 0, I = 0, H = 0;
  bool peephole = true;
  bool training = true;              // false: gates is only a workspace (inference)
  const int32_t* symbols = nullptr;  // [T,B] one-hot input (then x must be null), in [0,I)
  const Scalar* x = nullptr;         // [T,B,I] dense input (then symbols must be null)
  const Scalar* W = nullptr;         // [I,G]
  const Scalar* R = nullptr;         // [H,G]
  const Scalar* b = nullptr;         // [G]
  const Scalar* p = nullptr;         // [3,H] (peephole only)
  const Scalar* h0 = nullptr;        // [B,H] initial state (carried from the last segment)
  const Scalar* c0 = nullptr;        // [B,H]
  Scalar* hs = nullptr;              // [T,B,H] out: h_t; hs[T-1] is the final state
  Scalar* cs = nullptr;              // [T,B,H] out: c_t
  Scalar* gates = nullptr;           // [T,B,G] out (training): activations i,f,g,o
};

template <typename Scalar>
struct LayerBwdArgsT {
  int T = 0, B = 0, I = 0, H = 0;
  bool peephole = true;
  bool accumulate = false;           // true: add to dW, dR, db, dp; false: overwrite them
  const int32_t* symbols = nullptr;  // [T,B] as in forward (or x)
  const Scalar* x = nullptr;         // [T,B,I]
  const Scalar* W = nullptr;         // [I,G]
  const Scalar* R = nullptr;         // [H,G]
  const Scalar* p = nullptr;         // [3,H]
  const Scalar* h0 = nullptr;        // [B,H] as in forward
  const Scalar* c0 = nullptr;        // [B,H]
  const Scalar* hs = nullptr;        // [T,B,H] from forward
  const Scalar* cs = nullptr;        // [T,B,H] from forward
  const Scalar* gates = nullptr;     // [T,B,G] from a training forward
  const Scalar* dhs = nullptr;       // [T,B,H] dL/dh_t from above (output layer / next layer)
  const Scalar* dh_T = nullptr;      // [B,H] dL/d(final h) or null (= 0: truncated BPTT)
  const Scalar* dc_T = nullptr;      // [B,H] dL/d(final c) or null (= 0)
  Scalar* dW = nullptr;              // [I,G] out
  Scalar* dR = nullptr;              // [H,G] out
  Scalar* db = nullptr;              // [G] out
  Scalar* dp = nullptr;              // [3,H] out (peephole only)
  Scalar* dx = nullptr;              // [T,B,I] out or null (dense input only; overwritten)
  Scalar* dh0 = nullptr;             // [B,H] out or null: dL/dh0
  Scalar* dc0 = nullptr;             // [B,H] out or null: dL/dc0
  Scalar* workspace = nullptr;       // CUDA: [lstm_layer_bwd_workspace_floats(T,B,H)]
};

using LayerFwdArgs = LayerFwdArgsT<float>;
using LayerBwdArgs = LayerBwdArgsT<float>;

template <typename Args>
void validate_layer(const Args& a, const char* where) {
  cuda::require(a.T >= 1 && a.B >= 1 && a.I >= 1 && a.H >= 1, where,
                "T, B, I, H must be >= 1 (got T=" + std::to_string(a.T) +
                    " B=" + std::to_string(a.B) + " I=" + std::to_string(a.I) +
                    " H=" + std::to_string(a.H) + ")");
  cuda::require((a.symbols == nullptr) != (a.x == nullptr), where,
                "exactly one of symbols (one-hot) and x (dense) must be set");
  cuda::require(a.W && a.R && a.h0 && a.c0, where, "W, R, h0, c0 must be non-null");
  cuda::require(!a.peephole || a.p, where, "p must be non-null when peephole is on");
}

namespace cuda {
// Floats of workspace lstm_layer_backward needs: dz [T,B,G], dp partials [T,B,3H], dh, dc.
inline std::size_t lstm_layer_bwd_workspace_floats(int T, int B, int H) {
  const std::size_t tb = static_cast<std::size_t>(T) * B, h = static_cast<std::size_t>(H);
  return tb * 4 * h + tb * 3 * h + 2 * static_cast<std::size_t>(B) * h;
}
// Both need ctx.blas; enqueued on ctx.stream; deterministic (no atomics anywhere).
void lstm_layer_forward(const LayerFwdArgs& a, const ExecContext& ctx);
void lstm_layer_backward(const LayerBwdArgs& a, const ExecContext& ctx);

// Variant (b), forward only (kernels/lstm_layer_persistent.cu): the same outputs as
// lstm_layer_forward (hs, cs, gates; backward consumes them unchanged) from one persistent
// cooperative kernel with R in shared memory. Needs ctx.blas only for a dense input.
// lstm_layer_forward_persistent_fits(B, H): whether the current device can run the shape
// (shared memory per CTA, co-residency); lstm_layer_forward_persistent throws
// InvalidArgument when it cannot. Seed H = 200, B = 32 fits; H = 1024, B = 64 does not.
bool lstm_layer_forward_persistent_fits(int B, int H);  // fp32 storage, as (B, H, kTf32)
bool lstm_layer_forward_persistent_fits(int B, int H, GemmMath math);  // kBf16: H 1024 B 64 fits
void lstm_layer_forward_persistent(const LayerFwdArgs& a, const ExecContext& ctx);

// Variant (b), backward (kernels/lstm_layer_persistent_bwd.cu): the contract of
// lstm_layer_backward (same arguments, workspace size, outputs, accumulate semantics) with
// the recurrence dh_{t-1} = dhs[t-1] + dz_t R^T and the pointwise backward of all T steps in
// one persistent cooperative kernel (R rows of each CTA's own units in shared memory, FP32
// SIMT, one grid-wide barrier per step); then the weight gradients exactly as variant (a).
// lstm_layer_backward_persistent_fits(B, H): whether the current device can run the shape;
// lstm_layer_backward_persistent throws InvalidArgument when it cannot. units_per_cta:
// hidden units per CTA, in [1, H]; 0 (default) = ceil(H / #SMs), one CTA per SM; other
// values are for tuning and tests (fits() must be asked with the same value).
bool lstm_layer_backward_persistent_fits(int B, int H, int units_per_cta = 0);
void lstm_layer_backward_persistent(const LayerBwdArgs& a, const ExecContext& ctx,
                                    int units_per_cta = 0);

// Variant (c), forward only (kernels/lstm_layer_persistent_splitk.cu): the contract and
// outputs of lstm_layer_forward_persistent (variant (b)) from a persistent cooperative kernel
// laid out for shared-memory bandwidth: R rows transposed and padded in shared memory,
// h_{t-1} read as float4, each dot product split across lanes and summed by __shfl_xor_sync,
// 4 batch rows x 4 gates per task. FP32 recurrence under kTf32 and kFp32 (the input
// projection follows ctx.math); kBf16 throws InvalidArgument. Any B, H that fit: h_{t-1} is
// staged in batch tiles when all of B does not fit beside R (so H 1024, B 64 runs on an
// H100). Geometry: kernels/lstm_layer_persistent_splitk.h. Options are for tuning and tests;
// fits() must be asked with the options the launch uses.
struct PersistentSplitKOptions {
  int units_per_cta = 0;  // hidden units per CTA, in [1, H]; 0 = ceil(H / #SMs)
  int batch_tile = 0;     // rows of h_{t-1} per shared-memory tile: a multiple of 4; 0 = auto
};
bool lstm_layer_forward_persistent_splitk_fits(int B, int H,
                                               const PersistentSplitKOptions& opt = {});
void lstm_layer_forward_persistent_splitk(const LayerFwdArgs& a, const ExecContext& ctx,
                                          const PersistentSplitKOptions& opt = {});

// The persistent forward kernels side by side: kB = variant (b) (lstm_layer_persistent.cu,
// the default wherever a persistent forward is used), kC = variant (c) (above, default
// options). fits/launch dispatch to the functions above.
enum class PersistentFwd { kB, kC };
bool lstm_layer_forward_persistent_fits(int B, int H, PersistentFwd which);
void lstm_layer_forward_persistent(const LayerFwdArgs& a, const ExecContext& ctx,
                                   PersistentFwd which);

namespace detail {
// Shared by both backward variants (defined in kernels/lstm_layer.cu): the argument checks,
// and everything after the recurrence: dR = h_{t-1}^T dz over all steps (incl. the h0 term),
// dW (GEMM or one-hot scatter), dx = dz W^T, db and dp by column sums of dz [T,B,G] and the
// peephole partials dp_part [T,B,3H] (null without peepholes).
void validate_layer_backward(const LayerBwdArgs& a, const ExecContext& ctx, const char* where);
void lstm_layer_backward_weight_grads(const LayerBwdArgs& a, const float* dz, const float* dp_part,
                                      const ExecContext& ctx);
}  // namespace detail
}  // namespace cuda

namespace ref {
template <typename Scalar>
void lstm_layer_forward(const LayerFwdArgsT<Scalar>& a);
template <typename Scalar>
void lstm_layer_backward(const LayerBwdArgsT<Scalar>& a);

namespace detail {
// A row-major GEMM with ref::gemm's signature (kernels/gemm.h).
template <typename Scalar>
using GemmFn = void (*)(bool, bool, int, int, int, Scalar, const Scalar*, int, const Scalar*, int,
                        Scalar, Scalar*, int);
// lstm_layer_backward with every matrix product done by `gemm`: ref::gemm gives the spec,
// ref::gemm_bf16 the bf16 spec (kernels/bf16.h). `where` names the caller in errors.
template <typename Scalar>
void lstm_layer_backward_with(const LayerBwdArgsT<Scalar>& a, GemmFn<Scalar> gemm,
                              const char* where);
}  // namespace detail
}  // namespace ref

}  // namespace melodl
