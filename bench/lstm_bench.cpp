// bench/lstm_bench.cpp: CPU timings of the GravesLSTM library: one training step (forward +
// backward + optimiser update over one TBPTT segment) and sampling, with GFLOP/s by the
// formula in docs/design.md ("FLOP count"), counted at 0 for the pointwise work.
// Shapes: layer counts 1-4 at the seed size (H=200, V=60, B=32, T=50) and H=512, B=64.
// Run: build/bench/lstm_bench --benchmark_counters_tabular=true [--benchmark_filter=Train]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "lstm/cost.h"
#include "lstm/sampler.h"
#include "lstm/trainer.h"

namespace {

using namespace melodl::lstm;

void BM_TrainStep(benchmark::State& st) {
  const int L = static_cast<int>(st.range(0)), H = static_cast<int>(st.range(1)),
            V = static_cast<int>(st.range(2)), B = static_cast<int>(st.range(3)),
            T = static_cast<int>(st.range(4)), threads = static_cast<int>(st.range(5));
  NetworkConfig cfg;
  cfg.vocab = V;
  cfg.layers = L;
  cfg.hidden = H;
  ExecutionOptions exec;
  exec.threads = threads;
  TrainConfig tc = TrainConfig::melody_modeling_example();
  tc.tbptt_fwd = tc.tbptt_bwd = T;
  Trainer trainer(Network(cfg, exec), tc);
  std::mt19937 g(1);
  std::vector<std::int32_t> in(static_cast<std::size_t>(T) * B), out(in.size());
  for (auto& s : in) s = static_cast<std::int32_t>(g() % V);
  for (auto& s : out) s = static_cast<std::int32_t>(g() % V);
  const Batch batch{T, B, in, out, {}};
  State state = trainer.network().zero_state(B);
  trainer.train_segment(batch, state);  // warm-up (allocates workspaces)
  for (auto _ : st) {
    benchmark::DoNotOptimize(trainer.train_segment(batch, state));
  }
  const double symbols = static_cast<double>(T) * B;
  st.counters["symbols/s"] =
      benchmark::Counter(symbols, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(symbols * train_flops_per_symbol(L, H, V) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Sample(benchmark::State& st) {
  const int L = static_cast<int>(st.range(0)), H = static_cast<int>(st.range(1)),
            V = static_cast<int>(st.range(2)), streams = static_cast<int>(st.range(3));
  NetworkConfig cfg;
  cfg.vocab = V;
  cfg.layers = L;
  cfg.hidden = H;
  Network net(cfg);
  Sampler sampler(net, SampleConfig{1.0f, 0, 3});
  const std::vector<std::int32_t> prime = {1};
  const int length = 500;
  for (auto _ : st) {
    benchmark::DoNotOptimize(sampler.sample(streams, length, prime));
  }
  const double symbols = static_cast<double>(length) * streams;
  st.counters["symbols/s"] =
      benchmark::Counter(symbols, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(symbols * infer_flops_per_symbol(L, H, V) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

const int kThreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

void train_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"L", "H", "V", "B", "T", "threads"});
  for (int threads : {1, kThreads}) {
    for (int L = 1; L <= 4; ++L) b->Args({L, 200, 60, 32, 50, threads});
    b->Args({2, 512, 60, 64, 50, threads});
  }
}

}  // namespace

BENCHMARK(BM_TrainStep)->Apply(train_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Sample)
    ->ArgNames({"L", "H", "V", "streams"})
    ->Args({2, 200, 60, 1})
    ->Args({2, 200, 60, 10})
    ->Args({2, 200, 60, 32})
    ->Args({2, 512, 60, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
