// examples/cmd_bench.cpp: `melodl bench`: times the LSTM library on synthetic data and
// prints ONE JSON line: training-step time (forward + backward + update over one TBPTT
// segment), training symbols/s and GFLOP/s (FLOP formula in docs/design.md), and sampling
// symbols/s. Usage: melodl bench --layers 2 --hidden 200 --vocab 60 --batch 32 --tbptt 50
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/cuda_options.h"
#include "lstm/sampler.h"
#include "lstm/trainer.h"

namespace {

struct BenchArgs {
  int layers = 2, hidden = 200, vocab = 60, batch = 32, tbptt = 50, threads = 0, iters = 10;
  int warmup = 2, sample_length = 2000, sample_streams = 1;
  std::string peepholes = "on", device = "cpu";
  std::uint64_t seed = 12345;
  melodl::cli::CudaOptions cuda;  // --cuda-* (examples/cuda_options.h)
  CLI::App* sub = nullptr;
};

// The JSON line: the run's shape and options, then the timings.
struct BenchResult {
  std::string device, cuda_math;
  bool cuda_graphs = false;
  int cuda_wavefront = 0;
  bool cuda_persistent = false;
  int layers = 0, hidden = 0, vocab = 0, batch = 0, tbptt = 0;
  bool peepholes = true;
  int threads = 0, iters = 0;
  std::size_t params = 0;
  double train_step_ms = 0, train_step_ms_min = 0, train_symbols_per_s = 0;
  double train_gflop_per_step = 0, train_gflops = 0;
  int sample_streams = 0;
  double sample_symbols_per_s = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BenchResult, device, cuda_math, cuda_graphs, cuda_wavefront,
                                   cuda_persistent, layers, hidden, vocab, batch, tbptt, peepholes,
                                   threads, iters, params, train_step_ms, train_step_ms_min,
                                   train_symbols_per_s, train_gflop_per_step, train_gflops,
                                   sample_streams, sample_symbols_per_s)

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int run_bench(const BenchArgs& a) {
  namespace L = melodl::lstm;
  if (a.peepholes != "on" && a.peepholes != "off")
    throw melodl::cli::UsageError("--peepholes must be on or off, got \"" + a.peepholes + "\"");
  if (a.iters < 1) throw melodl::cli::UsageError("--iters must be >= 1");
  L::NetworkConfig cfg;
  cfg.vocab = a.vocab;
  cfg.layers = a.layers;
  cfg.hidden = a.hidden;
  cfg.peepholes = a.peepholes == "on";
  L::ExecutionOptions exec;
  exec.threads = a.threads;
  melodl::cli::apply_cuda_options(*a.sub, a.cuda, exec, false);
  cfg.seed = a.seed;
  L::TrainConfig tc = L::TrainConfig::melody_modeling_example();
  tc.tbptt_fwd = tc.tbptt_bwd = a.tbptt;
  try {
    exec.device = L::device_from_string(a.device);
    cfg.validate();
    exec.validate();
    tc.validate();
  } catch (const L::InvalidArgument& e) {
    throw melodl::cli::UsageError(e.what());
  }
  if (a.batch < 1 || a.tbptt < 1) throw melodl::cli::UsageError("--batch and --tbptt must be >= 1");

  L::Trainer trainer(L::Network(cfg, exec), tc);
  std::mt19937_64 g(a.seed);
  const std::size_t n = static_cast<std::size_t>(a.tbptt) * a.batch;
  std::vector<std::int32_t> in(n), out(n);
  for (auto& s : in) s = static_cast<std::int32_t>(g() % a.vocab);
  for (auto& s : out) s = static_cast<std::int32_t>(g() % a.vocab);
  const L::Batch batch{a.tbptt, a.batch, in, out, {}};
  L::State state = trainer.network().zero_state(a.batch);
  for (int k = 0; k < a.warmup; ++k) trainer.train_segment(batch, state);
  std::vector<double> times;
  for (int k = 0; k < a.iters; ++k) {
    const auto t0 = Clock::now();
    trainer.train_segment(batch, state);
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2], best = times.front();

  // FLOPs per (t,b), pointwise work counted as 0 (docs/design.md "FLOP count").
  const double H = a.hidden, V = a.vocab;
  const double train_flops = a.layers * 24.0 * H * H + (a.layers - 1) * 24.0 * H * H + 6.0 * H * V;
  const double symbols = static_cast<double>(n);

  L::Sampler sampler(trainer.network(), L::SampleConfig{1.0f, 0, a.seed});
  const std::vector<std::int32_t> prime = {0};
  sampler.sample(a.sample_streams, 50, prime);  // warm-up
  const auto t0 = Clock::now();
  sampler.sample(a.sample_streams, a.sample_length, prime);
  const double sample_s = seconds_since(t0);

  const BenchResult r{.device = L::to_string(exec.device),
                      .cuda_math = L::to_string(exec.cuda_math),
                      .cuda_graphs = exec.cuda_graphs,
                      .cuda_wavefront = exec.cuda_wavefront,
                      .cuda_persistent = exec.cuda_persistent,
                      .layers = a.layers,
                      .hidden = a.hidden,
                      .vocab = a.vocab,
                      .batch = a.batch,
                      .tbptt = a.tbptt,
                      .peepholes = cfg.peepholes,
                      .threads = exec.resolved_threads(),
                      .iters = a.iters,
                      .params = trainer.network().num_params(),
                      .train_step_ms = median * 1e3,
                      .train_step_ms_min = best * 1e3,
                      .train_symbols_per_s = symbols / median,
                      .train_gflop_per_step = symbols * train_flops * 1e-9,
                      .train_gflops = symbols * train_flops * 1e-9 / median,
                      .sample_streams = a.sample_streams,
                      .sample_symbols_per_s = a.sample_length * a.sample_streams / sample_s};
  const nlohmann::json j = r;
  std::cout << j.dump() << std::endl;
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<BenchArgs>();
  sub.add_option("--layers", a->layers, "LSTM layers")->capture_default_str();
  sub.add_option("--hidden", a->hidden, "Units per layer")->capture_default_str();
  sub.add_option("--vocab", a->vocab, "Vocabulary size")->capture_default_str();
  sub.add_option("--batch", a->batch, "Streams per minibatch")->capture_default_str();
  sub.add_option("--tbptt", a->tbptt, "Steps per TBPTT segment")->capture_default_str();
  sub.add_option("--peepholes", a->peepholes, "on (GravesLSTM) or off (standard LSTM)")
      ->capture_default_str();
  sub.add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  sub.add_option("--device", a->device, "cpu, cuda (the GPU backend) or auto (cuda when usable)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  melodl::cli::add_cuda_options(sub, a->cuda);
  a->sub = &sub;
  sub.add_option("--iters", a->iters, "Timed training steps (median reported)")
      ->capture_default_str();
  sub.add_option("--warmup", a->warmup, "Untimed training steps first")->capture_default_str();
  sub.add_option("--sample-length", a->sample_length, "Symbols per sampled stream")
      ->capture_default_str();
  sub.add_option("--sample-streams", a->sample_streams, "Streams sampled together")
      ->capture_default_str();
  sub.add_option("--seed", a->seed, "Seed of weights and data")->capture_default_str();
  return [a] { return run_bench(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(bench, "bench", "Time LSTM training and sampling (one JSON line)", setup);
