// bench/lstm_layer_cuda_bench.cu: times a stack of GravesLSTM layers (kernels/lstm_layer.h:
// variants (a), (b) and the variant-(c) forward) over one TBPTT segment on the GPU: forward,
// backward, both, per GEMM precision. Shapes (docs/performance.md 10(iii)): seed S1 = 2 x 200,
// one-hot V = 80, B 32, T 50; M1 = 2 x 512, M2 = 2 x 1024, dense I = H, B 64, T 50.
// Variants: bit 0 = forward (b) (lstm_layer_forward_persistent), bit 1 = backward (b)
// (lstm_layer_backward_persistent), bit 2 = forward (c) (lstm_layer_forward_persistent_splitk,
// taking precedence over bit 0); 0 = (a) both ways. BM_lstm_fwd_splitk sweeps (c)'s options.
// Timing: cudaEvent pair around each iteration (UseManualTime), after a warm-up iteration.
// Counters: items_per_second = B*T time steps (training chars/s for S1), GFLOP/s by the
// formula of performance.md 1 (forward 8H(I+H) per (t,b) and layer, 0 input FLOPs for
// one-hot; backward 2x forward; peephole work counted as 0).
// Run: build-cuda/bench/lstm_layer_cuda_bench --benchmark_out=res.json
//        --benchmark_out_format=json ; results go to docs/kernels.md with GPU and commit.
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "bench/cuda_bench.h"
#include "kernels/cuda_check.cuh"
#include "kernels/lstm_layer.h"
#include "kernels/runtime.h"

namespace melodl {
namespace {

using bench::filled;
using bench::skip_without_device;
using bench::time_on_stream;
using cuda::DeviceBuffer;

enum Phase { kForward = 0, kBackward = 1, kBoth = 2 };

// Device state of an L-layer stack for one segment; random weights, zero initial state.
struct Stack {
  int L, T, B, V, H;  // V > 0: layer 0 takes symbols of a V-symbol vocabulary; else dense I = H
  std::vector<DeviceBuffer<float>> W, R, b, p, dW, dR, db, dp, h0, c0, hs, cs, gates, dx;
  DeviceBuffer<float> x0, dhs_top, ws;
  DeviceBuffer<int32_t> sym;

  Stack(int L_, int T_, int B_, int V_, int H_) : L(L_), T(T_), B(B_), V(V_), H(H_) {
    const size_t G = 4 * size_t(H), TB = size_t(T) * B, BH = size_t(B) * H;
    const float ws_scale = 1.f / std::sqrt(static_cast<float>(H));
    for (int l = 0; l < L; ++l) {
      const size_t I = in_size(l);
      W.push_back(filled(I * G, ws_scale, 1 + l));
      R.push_back(filled(size_t(H) * G, ws_scale, 11 + l));
      b.push_back(filled(G, 0.1f, 21 + l));
      p.push_back(filled(3 * size_t(H), 0.1f, 31 + l));
      dW.emplace_back(I * G);
      dR.emplace_back(size_t(H) * G);
      db.emplace_back(G);
      dp.emplace_back(3 * size_t(H));
      h0.push_back(filled(BH, 0.f, 41));
      c0.push_back(filled(BH, 0.f, 42));
      hs.emplace_back(TB * H);
      cs.emplace_back(TB * H);
      gates.emplace_back(TB * G);
      dx.emplace_back(l > 0 ? TB * I : 0);
    }
    if (V > 0)
      sym = bench::symbols(TB, V);
    else
      x0 = filled(TB * H, 1.f, 51);
    dhs_top = filled(TB * H, 1.f, 61);
    ws = DeviceBuffer<float>(cuda::lstm_layer_bwd_workspace_floats(T, B, H));
  }
  size_t in_size(int l) const { return (l == 0 && V > 0) ? size_t(V) : size_t(H); }

  // The arguments forward and backward share (LayerFwdArgs or LayerBwdArgs) of layer l: shape,
  // input, weights, initial state and the forward's outputs.
  template <typename Args>
  Args layer_args(int l) const {
    Args a;
    a.T = T;
    a.B = B;
    a.I = static_cast<int>(in_size(l));
    a.H = H;
    a.symbols = (l == 0 && V > 0) ? sym.get() : nullptr;
    a.x = l > 0 ? hs[l - 1].get() : (V > 0 ? nullptr : x0.get());
    a.W = W[l].get();
    a.R = R[l].get();
    a.p = p[l].get();
    a.h0 = h0[l].get();
    a.c0 = c0[l].get();
    a.hs = hs[l].get();
    a.cs = cs[l].get();
    a.gates = gates[l].get();
    return a;
  }

  // splitk: variant (c) with its options (instead of (a) or (b)).
  void forward(const cuda::ExecContext& ctx, bool persistent = false, bool splitk = false,
               const cuda::PersistentSplitKOptions& splitk_opt = {}) {
    for (int l = 0; l < L; ++l) {
      auto a = layer_args<LayerFwdArgs>(l);
      a.b = b[l].get();
      if (splitk)
        cuda::lstm_layer_forward_persistent_splitk(a, ctx, splitk_opt);
      else if (persistent)
        cuda::lstm_layer_forward_persistent(a, ctx);
      else
        cuda::lstm_layer_forward(a, ctx);
    }
  }
  // persistent: variant (b) with units_per_cta (0: automatic).
  void backward(const cuda::ExecContext& ctx, bool persistent = false, int units_per_cta = 0) {
    for (int l = L - 1; l >= 0; --l) {
      auto a = layer_args<LayerBwdArgs>(l);
      a.dhs = l == L - 1 ? dhs_top.get() : dx[l + 1].get();
      a.dW = dW[l].get();
      a.dR = dR[l].get();
      a.db = db[l].get();
      a.dp = dp[l].get();
      a.dx = l > 0 ? dx[l].get() : nullptr;
      a.workspace = ws.get();
      if (persistent)
        cuda::lstm_layer_backward_persistent(a, ctx, units_per_cta);
      else
        cuda::lstm_layer_backward(a, ctx);
    }
  }
  // performance.md 1: forward FLOPs of the stack for the segment.
  double forward_flops() const {
    double f = 0;
    for (int l = 0; l < L; ++l) {
      const double I = (l == 0 && V > 0) ? 0.0 : double(H);
      f += 8.0 * H * (I + H) * double(B) * T;
    }
    return f;
  }
};

// Args: L, H, B, T, V (0 = dense), phase, tf32, variant (bit mask: 0 = (a) per-step cuBLAS +
// fused pointwise both ways; bit 0: forward with (b), bit 1: backward with (b), the
// persistent kernels; bit 2: forward with (c), the split-k persistent kernel).
void BM_lstm_stack(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const int L = static_cast<int>(state.range(0)), H = static_cast<int>(state.range(1)),
            B = static_cast<int>(state.range(2)), T = static_cast<int>(state.range(3)),
            V = static_cast<int>(state.range(4));
  const auto phase = static_cast<Phase>(state.range(5));
  const bool tf32 = state.range(6) != 0;
  const bool persistent = (state.range(7) & 1) != 0;
  const bool persistent_bwd = (state.range(7) & 2) != 0;
  const bool splitk = (state.range(7) & 4) != 0;
  if (splitk && phase != kBackward && !cuda::lstm_layer_forward_persistent_splitk_fits(B, H)) {
    state.SkipWithError("variant (c) forward does not fit this shape on this device");
    return;
  }
  if (persistent && !splitk && phase != kBackward &&
      !cuda::lstm_layer_forward_persistent_fits(B, H)) {
    state.SkipWithError("variant (b) forward does not fit this shape on this device");
    return;
  }
  if (persistent_bwd && phase != kForward && !cuda::lstm_layer_backward_persistent_fits(B, H)) {
    state.SkipWithError("variant (b) backward does not fit this shape on this device");
    return;
  }
  cuda::DeviceContext dc(tf32 ? cuda::GemmMath::kTf32 : cuda::GemmMath::kFp32);
  Stack s(L, T, B, V, H);
  const auto ctx = dc.exec();
  auto step = [&] {
    if (phase != kBackward) s.forward(ctx, persistent, splitk);
    if (phase != kForward) s.backward(ctx, persistent_bwd);
  };
  s.forward(ctx);  // backward-only timing needs a forward's activations
  time_on_stream(state, dc, step);
  const double flops = s.forward_flops() * (phase == kForward ? 1 : phase == kBackward ? 2 : 3);
  state.SetItemsProcessed(state.iterations() * int64_t(B) * T);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"L", "H", "B", "T", "V", "phase", "tf32", "variant"});
  for (int phase : {kForward, kBackward, kBoth})
    for (int tf32 : {1, 0}) {
      b->Args({2, 200, 32, 50, 80, phase, tf32, 0});  // S1 seed, one-hot layer 0
      b->Args({2, 512, 64, 50, 0, phase, tf32, 0});   // M1
      b->Args({2, 1024, 64, 50, 0, phase, tf32, 0});  // M2
    }
  for (int phase : {kForward, kBoth}) {  // variant (b) forward, where it fits
    b->Args({2, 200, 32, 50, 80, phase, 1, 1});
    b->Args({2, 512, 64, 50, 0, phase, 1, 1});
  }
  for (int tf32 : {1, 0}) {  // variant (b) backward alone, next to (a)'s kBackward above
    b->Args({2, 200, 32, 50, 80, kBackward, tf32, 2});
    b->Args({2, 512, 64, 50, 0, kBackward, tf32, 2});
    b->Args({2, 1024, 64, 50, 0, kBackward, tf32, 2});
  }
  for (int phase : {kForward, kBoth}) {  // variant (c) forward, beside (a) and (b) above
    b->Args({2, 200, 32, 50, 80, phase, 1, 4});
    b->Args({2, 512, 64, 50, 0, phase, 1, 4});
    b->Args({2, 1024, 64, 50, 0, phase, 1, 4});  // batch tiles; (b) does not fit M2
  }
  b->Args({2, 200, 32, 50, 80, kBoth, 1, 6});  // forward (c) + backward (b)
  b->Args({2, 512, 64, 50, 0, kBoth, 1, 6});
  b->Args({2, 1024, 64, 50, 0, kBoth, 1, 6});
  b->Args({2, 200, 32, 50, 80, kBoth, 1, 3});  // whole layer in variant (b)
  b->Args({2, 512, 64, 50, 0, kBoth, 1, 3});
  b->Args({2, 1024, 64, 50, 0, kBoth, 1, 2});   // fp32 forward (b) does not fit M2: (a) + (b)
  b->Args({1, 200, 1, 1, 80, kForward, 1, 0});  // sampling-like latency: one step, B = 1
  b->Args({1, 200, 1, 1, 80, kForward, 1, 1});
  b->Args({1, 200, 1, 1, 80, kForward, 1, 4});
  b->Args({1, 200, 1, 1, 80, kBoth, 1, 0});  // one training step, B = 1: (a) vs (b)
  b->Args({1, 200, 1, 1, 80, kBoth, 1, 3});
}
BENCHMARK(BM_lstm_stack)->Apply(shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);

// Variant (b) backward alone (TF32 weight-gradient GEMMs) with a chosen number of hidden
// units per CTA, to tune the automatic choice (U = ceil(H / #SMs), one CTA per SM): fewer,
// fuller CTAs read less of L2 in total per step (every CTA reads all of dz_t), each does
// more FMAs. Args: L, H, B, T, V (0 = dense), U (0 = automatic).
void BM_lstm_bwd_units(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const int L = static_cast<int>(state.range(0)), H = static_cast<int>(state.range(1)),
            B = static_cast<int>(state.range(2)), T = static_cast<int>(state.range(3)),
            V = static_cast<int>(state.range(4)), U = static_cast<int>(state.range(5));
  if (!cuda::lstm_layer_backward_persistent_fits(B, H, U)) {
    state.SkipWithError("variant (b) backward does not fit this shape and U on this device");
    return;
  }
  cuda::DeviceContext dc(cuda::GemmMath::kTf32);
  Stack s(L, T, B, V, H);
  const auto ctx = dc.exec();
  s.forward(ctx);
  time_on_stream(state, dc, [&] { s.backward(ctx, /*persistent=*/true, U); });
  state.SetItemsProcessed(state.iterations() * int64_t(B) * T);
  state.counters["GFLOP/s"] = benchmark::Counter(2 * s.forward_flops() * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void units_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"L", "H", "B", "T", "V", "U"});
  for (int U : {0, 2, 3, 4, 6, 8}) b->Args({2, 200, 32, 50, 80, U});  // S1
  for (int U : {0, 4, 6, 8, 10}) b->Args({2, 512, 64, 50, 0, U});     // M1
  for (int U : {0, 8, 10, 12, 13}) b->Args({2, 1024, 64, 50, 0, U});  // M2
}
BENCHMARK(BM_lstm_bwd_units)->Apply(units_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);

// Variant (c) forward alone (TF32 input projection) with chosen hidden units per CTA and
// batch tile, to tune the automatic choice (U = ceil(H / #SMs); all of B per tile when it fits
// beside R). Fewer units per CTA: more CTAs, less work each, more L2 traffic (every CTA copies
// all of h_{t-1}). Args: L, H, B, T, V (0 = dense), U (0 = automatic), tile (0 = automatic).
void BM_lstm_fwd_splitk(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const int L = static_cast<int>(state.range(0)), H = static_cast<int>(state.range(1)),
            B = static_cast<int>(state.range(2)), T = static_cast<int>(state.range(3)),
            V = static_cast<int>(state.range(4));
  const cuda::PersistentSplitKOptions opt{static_cast<int>(state.range(5)),
                                          static_cast<int>(state.range(6))};
  if (!cuda::lstm_layer_forward_persistent_splitk_fits(B, H, opt)) {
    state.SkipWithError("variant (c) does not fit this shape and options on this device");
    return;
  }
  cuda::DeviceContext dc(cuda::GemmMath::kTf32);
  Stack s(L, T, B, V, H);
  const auto ctx = dc.exec();
  time_on_stream(state, dc, [&] { s.forward(ctx, false, /*splitk=*/true, opt); });
  state.SetItemsProcessed(state.iterations() * int64_t(B) * T);
  state.counters["GFLOP/s"] =
      benchmark::Counter(s.forward_flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void splitk_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"L", "H", "B", "T", "V", "U", "tile"});
  for (int U : {0, 1, 4}) b->Args({2, 200, 32, 50, 80, U, 0});  // S1 (auto U = 2)
  b->Args({2, 200, 32, 50, 80, 0, 16});
  for (int U : {0, 2, 8}) b->Args({2, 512, 64, 50, 0, U, 0});  // M1 (auto U = 4)
  b->Args({2, 512, 64, 50, 0, 0, 32});
  for (int tile : {0, 16, 8}) b->Args({2, 1024, 64, 50, 0, 0, tile});  // M2 (auto 24-row tiles)
}
BENCHMARK(BM_lstm_fwd_splitk)->Apply(splitk_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace melodl

int main(int argc, char** argv) { return melodl::bench::run_benchmarks(argc, argv); }
