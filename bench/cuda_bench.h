// bench/cuda_bench.h: what the CUDA benchmark programs (bench/lstm_layer_cuda_bench.cu,
// bench/bf16_cuda_bench.cu, bench/lstm_cuda_bench.cpp) share: skipping without a device,
// deterministic device inputs, event timing of work enqueued on a stream, and a main() that
// names the GPU in the benchmark context. Host code (Google Benchmark 1.7.1 API).
//   skip_without_device(state)  true, with the benchmark skipped ("no CUDA device: <reason>"),
//                               when no CUDA device is usable
//   filled(n, scale, seed)      n floats in [-scale, scale) from an LCG (any non-degenerate
//                               values do for timing), on the device
//   symbols(n, V)               n symbols (k * 37) % V, on the device
//   time_on_stream(state, dc, work)  one warm-up call of work, then a cudaEvent pair around
//                               each timed call (for UseManualTime benchmarks)
//   run_benchmarks(argc, argv)  the body of main()
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/runtime.h"

namespace melodl::bench {

inline bool skip_without_device(benchmark::State& state) {
  if (cuda::available()) return false;
  state.SkipWithError(("no CUDA device: " + cuda::unavailable_reason()).c_str());
  return true;
}

inline cuda::DeviceBuffer<float> filled(std::size_t n, float scale, unsigned seed) {
  std::vector<float> v(n);
  unsigned s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(s >> 8) / 16777216.f * 2.f - 1.f);
  }
  return cuda::DeviceBuffer<float>(v);
}

inline cuda::DeviceBuffer<std::int32_t> symbols(std::size_t n, int V) {
  std::vector<std::int32_t> s(n);
  for (std::size_t k = 0; k < n; ++k) s[k] = static_cast<std::int32_t>((k * 37) % V);
  return cuda::DeviceBuffer<std::int32_t>(s);
}

template <typename Work>
void time_on_stream(benchmark::State& state, const cuda::DeviceContext& dc, Work work) {
  work();  // warm-up: cuBLAS heuristics, first-launch costs, cudaFuncSetAttribute
  dc.synchronize();
  cudaEvent_t start, stop;
  MELODL_CUDA_CHECK(cudaEventCreate(&start));
  MELODL_CUDA_CHECK(cudaEventCreate(&stop));
  for (auto _ : state) {
    MELODL_CUDA_CHECK(cudaEventRecord(start, dc.stream()));
    work();
    MELODL_CUDA_CHECK(cudaEventRecord(stop, dc.stream()));
    MELODL_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    MELODL_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

// Runs the registered benchmarks with the GPU's name and compute capability (or why there is
// none) in the context ("gpu").
inline int run_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (cuda::available()) {
    cudaDeviceProp prop{};
    int dev = 0;
    if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
      benchmark::AddCustomContext("gpu", std::string(prop.name) + " sm_" +
                                             std::to_string(prop.major) +
                                             std::to_string(prop.minor));
  } else {
    benchmark::AddCustomContext("gpu", "none: " + cuda::unavailable_reason());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace melodl::bench
