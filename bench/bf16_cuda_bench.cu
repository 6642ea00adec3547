// bench/bf16_cuda_bench.cu: GemmMath::kBf16 against kTf32 / kFp32 on the GPU (issue 5):
//   BM_gemm: cuda::gemm on the LSTM's GEMM shapes (per-step h R, the hoisted input
//     projection, the batched dR), items = multiply-adds, GFLOP/s = 2 M N K.
//   BM_layer_fwd: one GravesLSTM layer forward over a segment, variant (a) (per-step cuBLAS +
//     fused pointwise) or (b) (persistent kernel; bf16 storage halves its shared memory, so
//     H 1024 B 64 runs only in bf16 on an H100), items = B*T steps, GFLOP/s by performance.md
//     1 (8 H (I + H) per (t, b); 0 input FLOPs for one-hot).
// Timing: cudaEvent pair around each iteration (UseManualTime) after a warm-up call.
// Run: build-cuda/bench/bf16_cuda_bench --benchmark_out=bf16.json --benchmark_out_format=json
// Without a usable device every benchmark reports "no CUDA device: ...".
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "bench/cuda_bench.h"
#include "kernels/cuda_check.cuh"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/runtime.h"

namespace melodl {
namespace {

using bench::filled;
using bench::skip_without_device;
using bench::time_on_stream;
using cuda::DeviceBuffer;
using cuda::GemmMath;

const char* math_name(GemmMath m) {
  switch (m) {
    case GemmMath::kTf32:
      return "tf32";
    case GemmMath::kFp32:
      return "fp32";
    case GemmMath::kBf16:
      return "bf16";
  }
  return "?";
}

// Arg encoding of the precision: 0 = fp32, 1 = tf32, 2 = bf16.
GemmMath math_arg(int64_t v) {
  return v == 2 ? GemmMath::kBf16 : v == 1 ? GemmMath::kTf32 : GemmMath::kFp32;
}

// Args: M, N, K, trans_a, math (0 fp32, 1 tf32, 2 bf16). Row-major C[M,N] = op(A) B.
void BM_gemm(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const int M = static_cast<int>(state.range(0)), N = static_cast<int>(state.range(1)),
            K = static_cast<int>(state.range(2));
  const bool ta = state.range(3) != 0;
  const GemmMath math = math_arg(state.range(4));
  state.SetLabel(math_name(math));
  cuda::DeviceContext dc(math);
  auto A = filled(size_t(M) * K, 1.f, 1), B = filled(size_t(K) * N, 1.f, 2);
  DeviceBuffer<float> C(size_t(M) * N);
  const auto ctx = dc.exec();
  time_on_stream(state, dc, [&] {
    cuda::gemm(ctx, ta, false, M, N, K, 1.f, A.get(), ta ? M : K, B.get(), N, 0.f, C.get(), N);
  });
  const double flops = 2.0 * M * N * K;
  state.SetItemsProcessed(state.iterations() * int64_t(M) * N * K);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void gemm_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "ta", "math"});
  for (int math : {0, 1, 2}) {
    b->Args({32, 800, 200, 0, math});      // seed per-step h R
    b->Args({64, 2048, 512, 0, math});     // H 512, B 64 per step
    b->Args({64, 4096, 1024, 0, math});    // H 1024, B 64 per step
    b->Args({3200, 4096, 1024, 0, math});  // H 1024: input projection over T*B = 3200 rows
    b->Args({1024, 4096, 3200, 1, math});  // H 1024: dR = h^T dz over T*B rows
  }
}
BENCHMARK(BM_gemm)->Apply(gemm_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);

// Args: H, B, T, V (> 0: one-hot input of V symbols; 0: dense I = H), math, variant (0 = a,
// 1 = b, the persistent kernel). Forward of one layer, training mode, peepholes on.
void BM_layer_fwd(benchmark::State& state) {
  if (skip_without_device(state)) return;
  const int H = static_cast<int>(state.range(0)), B = static_cast<int>(state.range(1)),
            T = static_cast<int>(state.range(2)), V = static_cast<int>(state.range(3));
  const GemmMath math = math_arg(state.range(4));
  const bool persistent = state.range(5) != 0;
  state.SetLabel(std::string(math_name(math)) + (persistent ? " variant b" : " variant a"));
  if (persistent && !cuda::lstm_layer_forward_persistent_fits(B, H, math)) {
    state.SkipWithError("variant (b) does not fit this shape in this precision on this device");
    return;
  }
  const int I = V > 0 ? V : H;
  const size_t G = 4 * size_t(H), TB = size_t(T) * B, BH = size_t(B) * H;
  const float ws = 1.f / std::sqrt(static_cast<float>(H));
  auto W = filled(size_t(I) * G, ws, 1), R = filled(size_t(H) * G, ws, 2), b = filled(G, 0.1f, 3),
       p = filled(3 * size_t(H), 0.1f, 4), h0 = filled(BH, 0.f, 5), c0 = filled(BH, 0.f, 6);
  DeviceBuffer<float> x, hs(TB * H), cs(TB * H), gates(TB * G);
  DeviceBuffer<int32_t> sym;
  if (V > 0)
    sym = bench::symbols(TB, V);
  else
    x = filled(TB * I, 1.f, 7);
  cuda::DeviceContext dc(math);
  LayerFwdArgs a;
  a.T = T;
  a.B = B;
  a.I = I;
  a.H = H;
  a.symbols = V > 0 ? sym.get() : nullptr;
  a.x = V > 0 ? nullptr : x.get();
  a.W = W.get();
  a.R = R.get();
  a.b = b.get();
  a.p = p.get();
  a.h0 = h0.get();
  a.c0 = c0.get();
  a.hs = hs.get();
  a.cs = cs.get();
  a.gates = gates.get();
  const auto ctx = dc.exec();
  time_on_stream(state, dc, [&] {
    if (persistent)
      cuda::lstm_layer_forward_persistent(a, ctx);
    else
      cuda::lstm_layer_forward(a, ctx);
  });
  const double flops = 8.0 * H * ((V > 0 ? 0.0 : double(I)) + H) * double(B) * T;
  state.SetItemsProcessed(state.iterations() * int64_t(B) * T);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void layer_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"H", "B", "T", "V", "math", "variant"});
  for (int variant : {0, 1})
    for (int math : {1, 2}) {  // tf32 vs bf16 (variant b's products are fp32 SIMT in tf32)
      b->Args({200, 32, 50, 80, math, variant});  // seed layer 0 (one-hot)
      b->Args({200, 32, 50, 0, math, variant});   // seed layer 1 (dense)
      b->Args({512, 64, 50, 0, math, variant});   // M1 layer
      b->Args({1024, 64, 50, 0, math, variant});  // M2 layer: (b) fits only in bf16
    }
}
BENCHMARK(BM_layer_fwd)->Apply(layer_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace melodl

int main(int argc, char** argv) { return melodl::bench::run_benchmarks(argc, argv); }
