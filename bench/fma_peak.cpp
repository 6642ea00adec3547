// bench/fma_peak.cpp: this CPU's fused multiply-add peak in float32, the ceiling that
// docs/benchmarks.md compares the LSTM's GFLOP/s against. Each thread runs 12 independent
// chains of vector FMAs (enough to cover the FMA latency on every current x86 core), with the
// widest vectors the LSTM backend is built for (the same -march as melodl_lstm).
// Run: build/bench/fma_peak  (GFLOP/s summed over the threads of each row)
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <thread>

namespace {

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec vset1(float x) { return _mm512_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vfirst(Vec v) { return _mm512_cvtss_f32(v); }
#else
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec vset1(float x) { return _mm256_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vfirst(Vec v) { return _mm256_cvtss_f32(v); }
#endif

void BM_FmaPeak(benchmark::State& st) {
  constexpr int kChains = 12, kIters = 1 << 16;
  const Vec a = vset1(0.999999f), b = vset1(1e-7f);
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vset1(static_cast<float>(c));
  for (auto _ : st) {
    for (int i = 0; i < kIters; ++i)
      for (int c = 0; c < kChains; ++c) acc[c] = vfma(acc[c], a, b);
    benchmark::DoNotOptimize(acc);
  }
  float sink = 0;
  for (int c = 0; c < kChains; ++c) sink += vfirst(acc[c]);
  benchmark::DoNotOptimize(sink);
  // Iterations are counted over all threads and each thread sets the counter: averaged over
  // the threads, times the iterations of all, per wall second = the team's rate.
  st.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * kLanes * kChains * kIters * 1e-9,
                         benchmark::Counter::Flags(benchmark::Counter::kIsIterationInvariantRate |
                                                   benchmark::Counter::kAvgThreads));
  st.counters["lanes"] = benchmark::Counter(kLanes, benchmark::Counter::kAvgThreads);
}

const int kThreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
BENCHMARK(BM_FmaPeak)->Threads(1)->Threads(kThreads)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
