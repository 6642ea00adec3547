// kernels/lstm_pointwise.h: the fused GravesLSTM (peephole) cell pointwise step, forward
// and backward, for one time step of one layer. CUDA-free: declares the CUDA launchers
// (kernels/lstm_pointwise.cu) and the scalar references (kernels/lstm_pointwise_ref.cpp,
// the spec, templated on float/double). Tests: tests/kernels/lstm_pointwise_ref_test.cpp,
// tests/kernels/lstm_pointwise_cuda_test.cpp.
//
// Gate blocks along G = 4H: [0,H) i, [H,2H) f, [2H,3H) g, [3H,4H) o. With z = x W + h R
// (already summed by the caller) and bias b:
//   i = sigmoid(z_i + b_i + p_i*c_prev)   f = sigmoid(z_f + b_f + p_f*c_prev)
//   g = tanh(z_g + b_g)                   c = f*c_prev + i*g
//   o = sigmoid(z_o + b_o + p_o*c)        h = o*tanh(c)
#pragma once
#include "kernels/common.h"

namespace melodl {

template <typename Scalar>
struct PointwiseFwdArgsT {
  int B = 0, H = 0;
  bool peephole = true;            // false: p is ignored (may be null), as if p = 0
  bool training = true;            // true: write gates (needed by backward)
  const Scalar* z = nullptr;       // [B,G] pre-activations x W + h_prev R, without bias
  const Scalar* b = nullptr;       // [G]
  const Scalar* p = nullptr;       // [3,H] rows p_i, p_f, p_o
  const Scalar* c_prev = nullptr;  // [B,H]
  Scalar* c = nullptr;             // [B,H] out
  Scalar* h = nullptr;             // [B,H] out
  Scalar* gates = nullptr;         // [B,G] out (training): activations i,f,g,o; may alias z
};

template <typename Scalar>
struct PointwiseBwdArgsT {
  int B = 0, H = 0;
  bool peephole = true;
  const Scalar* dh = nullptr;       // [B,H] dL/dh_t (from above + recurrent), or its
                                    // recurrent part when dh_add is set
  const Scalar* dh_add = nullptr;   // [B,H] or null: added to dh (the layer backward passes
                                    // the upstream dL/dh_t here, saving a copy per step)
  const Scalar* dc_next = nullptr;  // [B,H] dL/dc_t arriving from step t+1 (zeros at the end)
  const Scalar* gates = nullptr;    // [B,G] saved activations i,f,g,o of this step
  const Scalar* c_prev = nullptr;   // [B,H]
  const Scalar* c = nullptr;        // [B,H]
  const Scalar* p = nullptr;        // [3,H] (ignored when !peephole)
  Scalar* dz = nullptr;             // [B,G] out: dL/d(pre-activation) = per-row db contribution
  Scalar* dc_prev = nullptr;        // [B,H] out: dL/dc_{t-1}; may alias dc_next
  Scalar* dp_partial = nullptr;     // [B,3H] out (peephole only; may be null otherwise):
                                    // per-(b,h) terms dz_i*c_prev, dz_f*c_prev, dz_o*c
};

// Contract checks shared by the CUDA launchers and the references (throw InvalidArgument).
template <typename Scalar>
void validate(const PointwiseFwdArgsT<Scalar>& a, const char* where) {
  cuda::require(a.B >= 0 && a.H >= 0, where, "B and H must be >= 0");
  if (a.B == 0 || a.H == 0) return;
  cuda::require(a.z && a.b && a.c_prev && a.c && a.h, where, "z, b, c_prev, c, h must be non-null");
  cuda::require(!a.peephole || a.p, where, "p must be non-null when peephole is on");
  cuda::require(!a.training || a.gates, where, "gates must be non-null when training");
}
template <typename Scalar>
void validate(const PointwiseBwdArgsT<Scalar>& a, const char* where) {
  cuda::require(a.B >= 0 && a.H >= 0, where, "B and H must be >= 0");
  if (a.B == 0 || a.H == 0) return;
  cuda::require(a.dh && a.dc_next && a.gates && a.c_prev && a.c && a.dz && a.dc_prev, where,
                "dh, dc_next, gates, c_prev, c, dz, dc_prev must be non-null");
  cuda::require(!a.peephole || (a.p && a.dp_partial), where,
                "p and dp_partial must be non-null when peephole is on");
}

using PointwiseFwdArgs = PointwiseFwdArgsT<float>;
using PointwiseBwdArgs = PointwiseBwdArgsT<float>;

namespace cuda {
// Enqueue on ctx.stream. Throws InvalidArgument on bad sizes/pointers, CudaError on launch
// failure or in a CPU-only build. B == 0 or H == 0 is a no-op.
void lstm_pointwise_fwd(const PointwiseFwdArgs& a, const ExecContext& ctx);
void lstm_pointwise_bwd(const PointwiseBwdArgs& a, const ExecContext& ctx);
}  // namespace cuda

namespace ref {
template <typename Scalar>
void lstm_pointwise_fwd(const PointwiseFwdArgsT<Scalar>& a);
template <typename Scalar>
void lstm_pointwise_bwd(const PointwiseBwdArgsT<Scalar>& a);
}  // namespace ref

}  // namespace melodl
