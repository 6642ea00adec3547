// bench/lstm_cuda_bench.cpp: the whole-network benchmark matrix of issue 5 on the GPU: our
// CUDA backend (lstm::Trainer / lstm::Sampler with device "cuda", variant-(a) layers, TF32)
// against cuDNN's LSTM (bench/cudnn_lstm.h, when cuDNN is found) and against our CPU backend.
// Shapes: layers 1-4 x hidden {200, 512, 1024} x batch {32, 64} x T 50, plus the harmony
// shape 3 x 100, T 300 (batch 32); one-hot input, V = 80.
// Cases (wall time per iteration, each iteration synchronous: UseRealTime):
//   Ours/Train/peep:{0,1}  one TBPTT segment of T steps: forward + backward + optimiser
//                          update (Adam) incl. output layer, softmax-xent and the host copy of
//                          the loss (Trainer::train_batch of one segment), variant (a);
//   Ours/Train/variant:b/peep:1  the same with the persistent variant-(b) layers
//                          (ExecutionOptions::cuda_persistent; skipped where it does not fit);
//   Ours/Train/graphs:1/peep:{0,1}  variant (a) with the segment captured as a CUDA graph
//                          (ExecutionOptions::cuda_graphs);
//   Ours/Train/graphs:1/wavefront:10/peep:1  the same with the layers as a wavefront of
//                          10-step chunks (ExecutionOptions::cuda_wavefront);
//   Ours/Train/variant:b/graphs:1/peep:1  persistent layers inside the graph;
//   Cudnn/Train            cuDNN LSTM stack only: forward (training) + backward data + backward
//                          weights on one-hot rows fed as a dense [T,B,V] input; NO output
//                          layer, softmax or update (so it favours cuDNN);
//   Cpu/Train              the CPU backend's train_batch (all hardware threads);
//   Ours/Sample, Cpu/Sample  Sampler::sample of B streams x 50 symbols, temperature 1 (on
//                          the device the draw too: no per-step copy);
//   Cudnn/SampleStep       50 single-step cuDNN inference forwards of the LSTM stack for B
//                          streams (no output layer, no draw).
// Counters: items_per_second = B*T symbols (train) or B*50 (sampling); GFLOP/s by the formula
// of docs/design.md "FLOP count" (cuDNN credited with the same LSTM FLOPs minus the output
// layer). Without a usable device every case reports "no CUDA device: <reason>".
// Run: build-cuda/bench/lstm_cuda_bench --benchmark_out=lstm_cuda.json
//        --benchmark_out_format=json [--benchmark_filter=Ours|Cudnn] (Cpu cases are slow).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bench/cuda_bench.h"
#include "kernels/cuda_check.cuh"
#include "kernels/lstm_layer.h"
#include "kernels/runtime.h"
#include "lstm/cost.h"
#include "lstm/network.h"
#include "lstm/sampler.h"
#include "lstm/trainer.h"
#ifdef MELODL_BENCH_HAS_CUDNN
#include "bench/cudnn_lstm.h"
#endif

namespace melodl {
namespace {

constexpr int kVocab = 80;
constexpr int kSampleLength = 50;

// Arguments: {layers, hidden, batch, T}.
void matrix(benchmark::internal::Benchmark* b) {
  for (int L = 1; L <= 4; ++L)
    for (int H : {200, 512, 1024})
      for (int B : {32, 64}) b->Args({L, H, B, 50});
  b->Args({3, 100, 32, 300});  // harmony shape
  b->ArgNames({"L", "H", "B", "T"});
}

using lstm::infer_flops_per_symbol;  // lstm/cost.h
using lstm::train_flops_per_symbol;

struct Data {
  std::vector<std::int32_t> in, tg;
  Data(int T, int B) {
    std::mt19937 g(5);
    for (int k = 0; k < T * B; ++k) {
      in.push_back(static_cast<std::int32_t>(g() % kVocab));
      tg.push_back(static_cast<std::int32_t>(g() % kVocab));
    }
  }
};

// Options of our CUDA backend a case turns on.
struct Variant {
  bool persistent = false;
  bool graphs = false;
  int wavefront = 0;
};

lstm::NetworkConfig net_config(int L, int H, bool peep) {
  lstm::NetworkConfig c;
  c.vocab = kVocab;
  c.layers = L;
  c.hidden = H;
  c.peepholes = peep;
  return c;
}

lstm::ExecutionOptions execution(const std::string& device, const Variant& v = {}) {
  lstm::ExecutionOptions e;
  e.cuda_persistent = v.persistent;
  e.cuda_graphs = v.graphs;
  e.cuda_wavefront = v.wavefront;
  e.device = lstm::device_from_string(device);
  e.cuda_math = lstm::CudaMath::tf32;
  return e;
}

void train(benchmark::State& state, const std::string& device, bool peep, const Variant& v = {}) {
  if (device == "cuda" && bench::skip_without_device(state)) return;
  const int L = static_cast<int>(state.range(0)), H = static_cast<int>(state.range(1)),
            B = static_cast<int>(state.range(2)), T = static_cast<int>(state.range(3));
  if (v.persistent && !cuda::lstm_layer_forward_persistent_fits(B, H)) {
    state.SkipWithError("variant (b) does not fit this shape on this device");
    return;
  }
  lstm::TrainConfig tc;
  tc.optimizer.kind = lstm::OptimizerKind::adam;
  tc.tbptt_fwd = T;
  tc.tbptt_bwd = T;
  lstm::Trainer trainer(lstm::Network(net_config(L, H, peep), execution(device, v)), tc);
  const Data d(T, B);
  const lstm::Batch batch{T, B, d.in, d.tg, {}};
  trainer.train_batch(batch);  // warm-up: workspaces, cuBLAS heuristics
  for (auto _ : state) benchmark::DoNotOptimize(trainer.train_batch(batch).loss_sum);
  const double symbols = static_cast<double>(B) * T;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(symbols));
  state.counters["GFLOP/s"] =
      benchmark::Counter(symbols * train_flops_per_symbol(L, H, kVocab) * 1e-9 * state.iterations(),
                         benchmark::Counter::kIsRate);
}

void sample(benchmark::State& state, const std::string& device) {
  if (device == "cuda" && bench::skip_without_device(state)) return;
  const int L = static_cast<int>(state.range(0)), H = static_cast<int>(state.range(1)),
            B = static_cast<int>(state.range(2));
  const lstm::Network net(net_config(L, H, true), execution(device));
  lstm::Sampler sampler(net, lstm::SampleConfig{1.0f, 0, 7});
  const std::vector<std::int32_t> prime = {1};
  sampler.sample(B, 2, prime);  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(sampler.sample(B, kSampleLength, prime));
  const double symbols = static_cast<double>(B) * kSampleLength;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(symbols));
  state.counters["GFLOP/s"] =
      benchmark::Counter(symbols * infer_flops_per_symbol(L, H, kVocab) * 1e-9 * state.iterations(),
                         benchmark::Counter::kIsRate);
}

#ifdef MELODL_BENCH_HAS_CUDNN
// Random weights (any non-degenerate values do for timing) in melodl's layout.
std::vector<bench::HostLstmLayer> random_weights(int L, int I0, int H) {
  std::mt19937 g(3);
  const float s = 1.0f / std::sqrt(static_cast<float>(H));
  std::uniform_real_distribution<float> u(-s, s);
  std::vector<bench::HostLstmLayer> w(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l) {
    const std::size_t I = static_cast<std::size_t>(l == 0 ? I0 : H), G = 4 * std::size_t(H);
    for (std::size_t k = 0; k < I * G; ++k) w[l].W.push_back(u(g));
    for (std::size_t k = 0; k < std::size_t(H) * G; ++k) w[l].R.push_back(u(g));
    w[l].b.assign(G, 0.0f);
  }
  return w;
}

void BM_CudnnTrain(benchmark::State& state) {
  if (bench::skip_without_device(state)) return;
  const int L = static_cast<int>(state.range(0)), H = static_cast<int>(state.range(1)),
            B = static_cast<int>(state.range(2)), T = static_cast<int>(state.range(3));
  cuda::DeviceContext ctx;
  bench::CudnnLstm lstm(bench::CudnnLstmShape{L, kVocab, H, B, T, true}, ctx.stream());
  lstm.set_weights(random_weights(L, kVocab, H));
  const std::size_t TB = std::size_t(T) * B, LBH = std::size_t(L) * B * H;
  const Data d(T, B);
  std::vector<float> onehot(TB * kVocab, 0.0f), dyh(TB * H, 0.01f);
  for (std::size_t n = 0; n < TB; ++n) onehot[n * kVocab + std::size_t(d.in[n])] = 1.0f;
  cuda::DeviceBuffer<float> x(onehot), dy(dyh), y(TB * H), hx(LBH), cx(LBH);
  hx.zero();
  cx.zero();
  auto step = [&] {
    lstm.forward(x.get(), hx.get(), cx.get(), y.get(), nullptr, nullptr, true);
    lstm.backward(x.get(), hx.get(), cx.get(), y.get(), dy.get(), nullptr, nullptr, nullptr);
    ctx.synchronize();
  };
  step();  // warm-up
  for (auto _ : state) step();
  const double symbols = static_cast<double>(TB);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(symbols));
  state.counters["GFLOP/s"] =
      benchmark::Counter(symbols * (train_flops_per_symbol(L, H, kVocab) - 6.0 * H * kVocab) *
                             1e-9 * state.iterations(),
                         benchmark::Counter::kIsRate);
}

void BM_CudnnSampleStep(benchmark::State& state) {
  if (bench::skip_without_device(state)) return;
  const int L = static_cast<int>(state.range(0)), H = static_cast<int>(state.range(1)),
            B = static_cast<int>(state.range(2));
  cuda::DeviceContext ctx;
  bench::CudnnLstm lstm(bench::CudnnLstmShape{L, kVocab, H, B, 1, true}, ctx.stream());
  lstm.set_weights(random_weights(L, kVocab, H));
  const std::size_t LBH = std::size_t(L) * B * H;
  std::vector<float> onehot(std::size_t(B) * kVocab, 0.0f);
  for (int b = 0; b < B; ++b) onehot[std::size_t(b) * kVocab + std::size_t(b % kVocab)] = 1.0f;
  cuda::DeviceBuffer<float> x(onehot), y(std::size_t(B) * H), h0(LBH), c0(LBH), h1(LBH), c1(LBH);
  h0.zero();
  c0.zero();
  auto run = [&] {
    for (int k = 0; k < kSampleLength; ++k) {
      const bool even = k % 2 == 0;
      lstm.forward(x.get(), even ? h0.get() : h1.get(), even ? c0.get() : c1.get(), y.get(),
                   even ? h1.get() : h0.get(), even ? c1.get() : c0.get(), false);
    }
    ctx.synchronize();
  };
  run();
  for (auto _ : state) run();
  const double symbols = static_cast<double>(B) * kSampleLength;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(symbols));
  state.counters["GFLOP/s"] =
      benchmark::Counter(symbols * (infer_flops_per_symbol(L, H, kVocab) - 2.0 * H * kVocab) *
                             1e-9 * state.iterations(),
                         benchmark::Counter::kIsRate);
}

#endif

// Registers `fn` as the case `name` over the shape matrix, timed in wall-clock `unit`s.
template <typename Fn>
void add_case(const char* name, benchmark::TimeUnit unit, Fn fn) {
  benchmark::RegisterBenchmark(name, fn)->Apply(matrix)->UseRealTime()->Unit(unit);
}

// A training case of our CUDA backend: peepholes `peep`, options `v`.
void add_ours_train(const char* name, bool peep, Variant v = {}) {
  add_case(name, benchmark::kMicrosecond,
           [peep, v](benchmark::State& s) { train(s, "cuda", peep, v); });
}

// Every case, in listing order (registered during static initialisation, before main).
[[maybe_unused]] const bool registered = [] {
  using S = benchmark::State;
  constexpr auto us = benchmark::kMicrosecond, ms = benchmark::kMillisecond;
  add_ours_train("Ours/Train/peep:0", false);
  add_ours_train("Ours/Train/peep:1", true);
  add_ours_train("Ours/Train/variant:b/peep:1", true, {true, false, 0});
  add_ours_train("Ours/Train/graphs:1/peep:0", false, {false, true, 0});
  add_ours_train("Ours/Train/graphs:1/peep:1", true, {false, true, 0});
  add_ours_train("Ours/Train/graphs:1/wavefront:10/peep:1", true, {false, true, 10});
  add_ours_train("Ours/Train/variant:b/graphs:1/peep:1", true, {true, true, 0});
  add_case("Cpu/Train", ms, [](S& s) { train(s, "cpu", true); });
  add_case("Ours/Sample", us, [](S& s) { sample(s, "cuda"); });
  add_case("Cpu/Sample", ms, [](S& s) { sample(s, "cpu"); });
#ifdef MELODL_BENCH_HAS_CUDNN
  add_case("Cudnn/Train", us, BM_CudnnTrain);
  add_case("Cudnn/SampleStep", us, BM_CudnnSampleStep);
#endif
  return true;
}();

}  // namespace
}  // namespace melodl

BENCHMARK_MAIN();
