// tests/lstm/cuda_backend_test.cpp: the CUDA backend of melodl::lstm (device "cuda") against
// the CPU backend, through the public API only (label cuda; every test skips with
// melodl::cuda::unavailable_reason() when no device is usable):
//   - Network::run logits and final state, 1-3 layers, odd sizes, peepholes on/off;
//   - Trainer::compute_gradients loss, state and gradient (full and partial backward window,
//     masks, a non-zero incoming state);
//   - 200 training steps on CPU and CUDA with matching loss trajectories;
//   - determinism (two CUDA runs bitwise equal), checkpoint round trip from a CUDA trainer
//     (resume continues bitwise identically on the device; the file loads on the CPU too),
//     apply_update, evaluate, greedy sampling.
// Tolerances (docs/kernels.md "Tolerance policy", tests/kernels/tolerance.h): with cuda_math
// "fp32" (exact fp32 GEMMs) the backends differ only by summation order: forward atol 1e-5 /
// rtol 1e-4, gradients atol 1e-4 x (largest entry of the tensor) / rtol 1e-3, as the CPU
// backend against its double reference. With "tf32" the bound follows from TF32's operand
// rounding and the shape (tolerance() below). The 200-step comparison is a trajectory check
// (TrainingCurveMatchesCpuOver200Steps).
// Run: ctest --test-dir build-cuda -L cuda -R CudaBackend --output-on-failure
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "kernels/lstm_layer.h"
#include "kernels/runtime.h"
#include "lstm/checkpoint.h"
#include "lstm/sampler.h"
#include "lstm_test_util.h"
#include "tests/kernels/tolerance.h"

#ifdef MELODL_CUDA_EMULATION
#include "lstm/cuda/backend.h"  // cudabk::allocation_generation

namespace melodl::cuda {
extern int persistent_forward_calls;  // tests/lstm/cuda_emulation.cpp
extern int persistent_backward_calls;
extern int graph_launches;           // cudaGraphLaunch calls
extern bool emulated_schedule_late;  // order in which the emulation runs ready work
extern int sample_calls;             // cuda::sample launches
extern int device_mallocs;           // cudaMalloc calls
}  // namespace melodl::cuda
#endif

namespace melodl::lstm {
namespace {

namespace fs = std::filesystem;

// lstm_cuda_emulated_test builds this file against a host emulation of the device
// (tests/lstm/cuda_emulation.cpp: reference kernels, naive GEMMs): the seed shape is skipped
// there for time.
#ifdef MELODL_CUDA_EMULATION
constexpr bool kEmulated = true;
#else
constexpr bool kEmulated = false;
#endif

class CudaBackend : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!melodl::cuda::available()) GTEST_SKIP() << melodl::cuda::unavailable_reason();
  }
};

struct Shape {
  int layers, H, V, T, B, bwd;
  bool peepholes, mask;
};

std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << "L" << s.layers << " H" << s.H << " V" << s.V << " T" << s.T << " B" << s.B << " bwd"
            << s.bwd << (s.peepholes ? " peep" : " nopeep") << (s.mask ? " mask" : "");
}

class CudaVsCpu : public ::testing::TestWithParam<std::tuple<Shape, std::string>> {
 protected:
  void SetUp() override {
    if (!melodl::cuda::available()) GTEST_SKIP() << melodl::cuda::unavailable_reason();
    if (kEmulated && std::get<0>(GetParam()).H >= 200)
      GTEST_SKIP() << "large shape skipped in the host emulation (naive reference GEMMs)";
  }
};

NetworkConfig config(const Shape& s) { return test::small_config(s.V, s.layers, s.H, s.peepholes); }

ExecutionOptions execution(const std::string& device, const std::string& math) {
  ExecutionOptions e = test::on_cpu(2);
  e.device = device_from_string(device);
  e.cuda_math = cuda_math_from_string(math);
  return e;
}

// A CUDA network with random (unsaturated) weights and a CPU network with the same weights.
std::pair<Network, Network> twin_networks(const Shape& s, const std::string& math,
                                          std::uint64_t seed, bool persistent = false) {
  ExecutionOptions gx = execution("cuda", math);
  gx.cuda_persistent = persistent;
  Network gpu(config(s), gx);
  test::randomize(gpu, seed);  // writes the host mirror; uploaded before the next device use
  const std::span<const float> p = std::as_const(gpu).params();
  Network cpu(config(s), std::vector<float>(p.begin(), p.end()), execution("cpu", math));
  return {std::move(gpu), std::move(cpu)};
}

State random_state(const Network& net, int B, std::uint64_t seed) {
  State s = net.zero_state(B);
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (std::size_t l = 0; l < s.h.size(); ++l)
    for (std::size_t k = 0; k < s.h[l].size(); ++k) {
      s.h[l][k] = u(g);
      s.c[l][k] = u(g);
    }
  return s;
}

struct Tol {
  double fwd_atol, fwd_rtol, grad_atol, grad_rtol;
};
// docs/kernels.md "Tolerance policy" (tests/kernels/tolerance.h): the CPU backend's own
// tolerances against its double reference (summation order only) are the floor; a reduced-
// precision math mode adds its operand rounding: the pre-activation error of one layer
// (weights U(+-1/sqrt(H)) from test::randomize, |h| < 1; layer 0 one-hot, layers above take
// h as a dense input of H), times kForwardGain per layer and the output layer (each adds
// its own error; summed linearly, which is pessimistic); gradients with kGradientGain,
// relative to each tensor's largest entry.
Tol tolerance(const std::string& math, const Shape& s) {
  const Tol floor{1e-5, 1e-4, 1e-4, 1e-3};
  const melodl::test::MathMode m = melodl::test::math_mode(math);
  const double ez = melodl::test::preactivation_error(m, s.H, s.layers > 1 ? s.H : 0);
  if (m == melodl::test::MathMode::kFp32) return floor;
  const double f = melodl::test::kForwardGain * (s.layers + 1) * ez;
  const double g = melodl::test::kGradientGain * (s.layers + 1) * ez;
  return {std::max(floor.fwd_atol, f), std::max(floor.fwd_rtol, f), std::max(floor.grad_atol, g),
          std::max(floor.grad_rtol, g)};
}

TEST_P(CudaVsCpu, RunLogitsAndStateMatchCpu) {
  const auto& [s, math] = GetParam();
  auto [gpu, cpu] = twin_networks(s, math, 21);
  EXPECT_EQ(gpu.device(), Device::cuda);
  const auto seg = test::random_batch(s.T, s.B, s.V, 31);
  State sg = random_state(cpu, s.B, 5), sc = random_state(cpu, s.B, 5);
  std::vector<float> lg(static_cast<std::size_t>(s.T) * s.B * s.V), lc(lg.size());
  gpu.run(seg.inputs, s.T, sg, lg);
  cpu.run(seg.inputs, s.T, sc, lc);
  const Tol tol = tolerance(math, s);
  EXPECT_TRUE(test::allclose(lg, lc, tol.fwd_atol, tol.fwd_rtol)) << s << " " << math;
  for (int l = 0; l < s.layers; ++l) {
    EXPECT_TRUE(test::allclose(sg.h[l], sc.h[l], tol.fwd_atol, tol.fwd_rtol)) << "h" << l;
    EXPECT_TRUE(test::allclose(sg.c[l], sc.c[l], tol.fwd_atol, tol.fwd_rtol)) << "c" << l;
  }
  // step() (T = 1, used by Sampler) continues from the state run() left
  std::vector<float> og(static_cast<std::size_t>(s.B) * s.V), oc(og.size());
  const std::vector<std::int32_t> next(seg.targets.begin(), seg.targets.begin() + s.B);
  gpu.step(next, sg, og);
  cpu.step(next, sc, oc);
  EXPECT_TRUE(test::allclose(og, oc, tol.fwd_atol, tol.fwd_rtol)) << "step after run";
}

TEST_P(CudaVsCpu, GradientsMatchCpu) {
  const auto& [s, math] = GetParam();
  auto [gpu, cpu] = twin_networks(s, math, 22);
  const ParamLayout L = cpu.layout();
  Trainer tg(std::move(gpu), TrainConfig{});
  Trainer tc(std::move(cpu), TrainConfig{});
  const auto seg = test::random_batch(s.T, s.B, s.V, 32, s.mask);
  State sg = random_state(tc.network(), s.B, 6), sc = random_state(tc.network(), s.B, 6);
  const StepStats a = tg.compute_gradients(seg.view(), sg, s.bwd);
  const StepStats e = tc.compute_gradients(seg.view(), sc, s.bwd);
  const Tol tol = tolerance(math, s);
  EXPECT_NEAR(a.loss_sum, e.loss_sum, tol.fwd_rtol * std::abs(e.loss_sum)) << s;
  EXPECT_EQ(a.count, e.count);
  for (int l = 0; l < s.layers; ++l) {
    EXPECT_TRUE(test::allclose(sg.h[l], sc.h[l], tol.fwd_atol, tol.fwd_rtol)) << "h" << l;
    EXPECT_TRUE(test::allclose(sg.c[l], sc.c[l], tol.fwd_atol, tol.fwd_rtol)) << "c" << l;
  }
  const std::vector<float> ga(tg.gradients().begin(), tg.gradients().end());
  const std::vector<float> ge(tc.gradients().begin(), tc.gradients().end());
  for (const auto& t : L.tensors) {
    const std::vector<float> x(ga.begin() + t.offset, ga.begin() + t.offset + t.size());
    const std::vector<float> y(ge.begin() + t.offset, ge.begin() + t.offset + t.size());
    double scale = 0;
    for (float v : y) scale = std::max(scale, std::abs(static_cast<double>(v)));
    EXPECT_TRUE(test::allclose(x, y, tol.grad_atol * std::max(1.0, scale), tol.grad_rtol))
        << "tensor " << t.name << " " << s << " " << math;
  }
}

TEST_P(CudaVsCpu, EvaluateMatchesCpu) {
  const auto& [s, math] = GetParam();
  auto [gpu, cpu] = twin_networks(s, math, 23);
  TrainConfig tc;
  tc.tbptt_fwd = std::max(1, s.T / 2);  // two segments: the state carries on the device
  tc.tbptt_bwd = tc.tbptt_fwd;
  Trainer tg(std::move(gpu), tc), tcpu(std::move(cpu), tc);
  const auto batch = test::random_batch(s.T, s.B, s.V, 33, s.mask);
  const StepStats a = tg.evaluate(batch.view()), e = tcpu.evaluate(batch.view());
  EXPECT_NEAR(a.loss_sum, e.loss_sum, tolerance(math, s).fwd_rtol * std::abs(e.loss_sum));
  EXPECT_EQ(a.count, e.count);
  EXPECT_EQ(a.segments, e.segments);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaVsCpu,
    ::testing::Combine(::testing::Values(Shape{1, 1, 3, 1, 1, 0, true, false},
                                         Shape{1, 13, 7, 5, 3, 0, false, false},
                                         Shape{2, 33, 11, 37, 7, 0, true, true},
                                         Shape{2, 33, 11, 37, 1, 10, false, false},
                                         Shape{3, 17, 9, 9, 4, 4, true, true},
                                         Shape{3, 65, 20, 12, 5, 0, false, true},
                                         Shape{2, 200, 60, 50, 32, 0, true, false}),
                       ::testing::Values(std::string("fp32"), std::string("tf32"))),
    [](const ::testing::TestParamInfo<std::tuple<Shape, std::string>>& i) {
      const Shape& s = std::get<0>(i.param);
      std::ostringstream os;  // not operator+: GCC 12 -Wrestrict false positive
      os << "L" << s.layers << "_H" << s.H << "_V" << s.V << "_T" << s.T << "_B" << s.B << "_bwd"
         << s.bwd << (s.peepholes ? "_peep" : "_nopeep") << (s.mask ? "_mask_" : "_")
         << std::get<1>(i.param);
      return os.str();
    });

// Mean loss (nats) per step of `steps` train_batch calls on a fixed pool of batches.
std::vector<double> loss_curve(Trainer& t, int steps, int V) {
  std::vector<double> curve;
  std::vector<test::RandomBatch> pool;
  for (int k = 0; k < 8; ++k) {
    // learnable data: target = a fixed function of the input (+ noise from the random rows)
    auto b = test::random_batch(20, 8, V, 700 + k);
    for (std::size_t j = 0; j < b.targets.size(); ++j)
      if (j % 3 != 0) b.targets[j] = (b.inputs[j] * 3 + 1) % V;
    pool.push_back(std::move(b));
  }
  for (int k = 0; k < steps; ++k) curve.push_back(t.train_batch(pool[k % 8].view()).mean_nats());
  return curve;
}

// 200 updates (Adam, TBPTT 10/10, 2 x 32, V 16, B 8, T 20) on CPU and CUDA, compared as
// trajectories (docs/kernels.md "Tolerance policy"). A per-step bound over 200 Adam updates
// is not meaningful: Adam divides each gradient component by its running RMS, so a component
// whose gradient is within rounding of zero gets an O(lr) update of either sign, and the two
// runs drift apart like two seeds of one training. So:
//   - pointwise only over the first batch: its first segment runs on identical weights (mean
//     loss within 2x the logit bound: d(log-softmax) <= 2 max|d logit|), its second after one
//     update that differs only by such components (the loss moves by their gradient times
//     lr, second order): the same bound, doubled;
//   - the trend over all 200 updates: the mean loss of each pass over the 8 batches (16
//     updates) within a relative band of the CPU's (kCurveBand: drift, not rounding, so the
//     same for every math mode), both runs learn (final pass < 80 % of the first), and the
//     CUDA run ends no worse than the CPU's by more than the band.
TEST_F(CudaBackend, TrainingCurveMatchesCpuOver200Steps) {
  constexpr double kCurveBand = 0.05;
  for (const std::string math : {"fp32", "tf32"}) {
    const Shape s{2, 32, 16, 20, 8, 0, true, false};
    auto [gpu, cpu] = twin_networks(s, math, 24);
    TrainConfig tc;
    tc.optimizer.kind = OptimizerKind::adam;
    tc.optimizer.lr = 1e-2f;
    tc.optimizer.clip_norm = 5.0f;
    tc.tbptt_fwd = 10;
    tc.tbptt_bwd = 10;
    Trainer tg(std::move(gpu), tc), tcpu(std::move(cpu), tc);
    const auto a = loss_curve(tg, 100, s.V);  // 2 segments per batch: 200 updates
    const auto e = loss_curve(tcpu, 100, s.V);
    EXPECT_EQ(tg.step_count(), 200);
    const double first = 2 * 2 * tolerance(math, s).fwd_atol;
    EXPECT_LE(std::abs(a[0] - e[0]), first) << math << ": first batch (identical weights + 1 step)";
    auto pass_means = [](const std::vector<double>& c) {
      std::vector<double> m;
      for (std::size_t k = 0; k + 8 <= c.size(); k += 8) {
        double sum = 0;
        for (std::size_t j = k; j < k + 8; ++j) sum += c[j];
        m.push_back(sum / 8);
      }
      return m;
    };
    const auto pa = pass_means(a), pe = pass_means(e);
    double worst_pass = 0, worst_step = 0;
    for (std::size_t k = 0; k < pa.size(); ++k) {
      worst_pass = std::max(worst_pass, std::abs(pa[k] - pe[k]) / pe[k]);
      EXPECT_LE(std::abs(pa[k] - pe[k]), kCurveBand * pe[k]) << math << ": pass " << k;
    }
    for (std::size_t k = 0; k < a.size(); ++k)
      worst_step = std::max(worst_step, std::abs(a[k] - e[k]));
    std::printf(
        "%s: first batch |d| %.3g (bound %.3g), largest per-pass relative difference %.3g "
        "(band %.3g), largest per-step |d| %.3g nats (not checked)\n",
        math.c_str(), std::abs(a[0] - e[0]), first, worst_pass, kCurveBand, worst_step);
    EXPECT_LT(pa.back(), 0.8 * pa.front()) << math << ": the CUDA run did not learn";
    EXPECT_LT(pe.back(), 0.8 * pe.front()) << math << ": the CPU run did not learn";
    EXPECT_LE(pa.back(), (1 + kCurveBand) * pe.back()) << math << ": CUDA ends worse than the CPU";
  }
}

TEST_F(CudaBackend, RepeatRunsAreBitwiseEqual) {
  const Shape s{2, 40, 13, 12, 5, 0, true, true};
  auto run = [&] {
    auto [gpu, cpu] = twin_networks(s, "tf32", 25);
    TrainConfig tc;
    tc.optimizer.kind = OptimizerKind::dl4j_rmsprop;
    tc.optimizer.lr = 0.1f;
    tc.optimizer.l2 = 1e-3f;
    tc.tbptt_fwd = 6;
    tc.tbptt_bwd = 4;
    Trainer t(std::move(gpu), tc);
    std::vector<double> losses;
    for (int k = 0; k < 10; ++k) {
      const auto b = test::random_batch(s.T, s.B, s.V, 800 + k, true);
      const StepStats st = t.train_batch(b.view());
      losses.push_back(st.loss_sum);
      losses.push_back(st.score);
      losses.push_back(st.grad_norm);
    }
    const auto p = std::as_const(t.network()).params();
    return std::make_pair(losses, std::vector<float>(p.begin(), p.end()));
  };
  const auto first = run(), second = run();
  EXPECT_EQ(first.first, second.first);
  EXPECT_EQ(first.second, second.second);
}

// Everything a training loop does, on one trainer: train_batch over segments of two lengths
// (10, 10, 3), with the carried state; compute_gradients from a caller's state with a mask and
// a partial backward window; apply_update; evaluate; a larger batch (its buffers are
// reallocated, so captured graphs must be rebuilt) and the first batch size again. Returns
// every loss, score, norm and gradient value, then the parameters.
std::vector<double> training_trace(const Shape& s, const std::string& math, bool graphs,
                                   int wavefront) {
  ExecutionOptions gx = execution("cuda", math);
  gx.cuda_graphs = graphs;
  gx.cuda_wavefront = wavefront;
  Network net(config(s), gx);
  test::randomize(net, 41);
  TrainConfig tc;
  tc.optimizer.kind = OptimizerKind::adam;
  tc.optimizer.lr = 5e-3f;
  tc.optimizer.clip_norm = 2.0f;
  tc.tbptt_fwd = 10;
  tc.tbptt_bwd = 7;
  Trainer t(std::move(net), tc);
  std::vector<double> out;
  auto stats = [&](const StepStats& st) {
    out.push_back(st.loss_sum);
    out.push_back(st.score);
    out.push_back(st.grad_norm);
  };
  for (int k = 0; k < 3; ++k) stats(t.train_batch(test::random_batch(23, s.B, s.V, 60 + k).view()));
  State st = random_state(t.network(), s.B, 8);
  const auto mb = test::random_batch(9, s.B, s.V, 70, true);
  const StepStats g = t.compute_gradients(mb.view(), st, 5);
  stats(g);
  for (const auto& h : st.h) out.insert(out.end(), h.begin(), h.end());
  const auto grads = std::as_const(t).gradients();
  out.insert(out.end(), grads.begin(), grads.end());
  const UpdateReport r = t.apply_update(g, s.B);
  out.push_back(r.grad_norm);
  stats(t.evaluate(test::random_batch(23, s.B, s.V, 71).view()));
  stats(t.train_batch(test::random_batch(12, s.B + 3, s.V, 72).view()));
  stats(t.train_batch(test::random_batch(23, s.B, s.V, 73).view()));
  const auto p = std::as_const(t.network()).params();
  out.insert(out.end(), p.begin(), p.end());
  return out;
}

// CUDA graphs replay exactly the work of the eager path: bitwise the same trace, through
// segment shapes changing and buffers reallocated (in the emulation a graph that kept a
// freed buffer fails its extent check, and work forked onto a stream but not joined fails
// the capture).
TEST_F(CudaBackend, GraphsGiveBitwiseTheEagerResults) {
  for (const int wavefront : {0, 4}) {
    const Shape s{3, 9, 11, 0, 4, 0, true, false};
    const auto eager = training_trace(s, "fp32", false, wavefront);
    for (const bool late : {false, true}) {
#ifdef MELODL_CUDA_EMULATION
      melodl::cuda::emulated_schedule_late = late;
      const int launches = melodl::cuda::graph_launches;
#else
      if (late) continue;
#endif
      const auto graph = training_trace(s, "fp32", true, wavefront);
      ASSERT_EQ(eager.size(), graph.size());
      EXPECT_EQ(eager, graph) << "wavefront " << wavefront << (late ? " late" : " early");
#ifdef MELODL_CUDA_EMULATION
      // 3 x 3 segments, 1 compute_gradients, 3 evaluate, 2 + 3 segments
      EXPECT_EQ(melodl::cuda::graph_launches - launches, 9 + 1 + 3 + 2 + 3);
      melodl::cuda::emulated_schedule_late = false;
#endif
    }
  }
}

#ifdef MELODL_CUDA_EMULATION
// Every device allocation after construction is a workspace (re)allocation and must move the
// allocation generation, or a cached graph would replay on the freed buffer. The output
// layer's all-zero index buffer (ensure_zeros) used to be reallocated without it; through
// the public API it only grows together with another workspace today, which hid the bug, so
// the invariant is checked directly: cudaMalloc calls (emulation) == generation steps, after
// every call of a sequence that grows each kind of workspace (training with graphs, larger
// inference chunks, a sampling session, a larger batch).
TEST_F(CudaBackend, EveryWorkspaceAllocationInvalidatesGraphs) {
  const Shape s{2, 9, 11, 0, 3, 0, true, false};
  ExecutionOptions gx = execution("cuda", "fp32");
  gx.cuda_graphs = true;
  Network net(config(s), gx);
  test::randomize(net, 45);
  TrainConfig tc;
  tc.tbptt_fwd = 5;
  tc.tbptt_bwd = 5;
  Trainer t(std::move(net), tc);
  const int mallocs0 = melodl::cuda::device_mallocs;
  const std::uint64_t gen0 = cudabk::allocation_generation();
  auto check = [&](const char* what) {
    EXPECT_EQ(static_cast<std::uint64_t>(melodl::cuda::device_mallocs - mallocs0),
              cudabk::allocation_generation() - gen0)
        << "after " << what << ": a device allocation did not invalidate the cached graphs";
  };
  t.train_batch(test::random_batch(10, s.B, s.V, 90).view());
  check("the first training batch");
  State st = t.network().zero_state(s.B);
  std::vector<float> logits(static_cast<std::size_t>(40) * s.B * s.V);
  t.network().run(test::random_batch(40, s.B, s.V, 91).inputs, 40, st, logits);
  check("inference over 40 steps");
  t.train_batch(test::random_batch(10, s.B, s.V, 92).view());
  check("training after inference");
  Sampler sampler(t.network(), {.temperature = 1.0f, .seed = 3});
  const std::vector<std::int32_t> prime{1, 2};
  (void)sampler.sample(5, 6, prime);
  check("a sampling session");
  t.train_batch(test::random_batch(10, s.B + 4, s.V, 93).view());
  check("a larger batch");
  EXPECT_GT(melodl::cuda::device_mallocs, mallocs0);
}
#endif

// The layer wavefront (chunks of 4 steps; 3 layers; backward window 7 of 10, so chunks
// start inside the window) against layer after layer: the same forward (one-hot layer 0 is
// a gather; layers above run the same GEMMs on fewer rows), weight gradients summed chunk by
// chunk (fp32 rounding only).
TEST_F(CudaBackend, WavefrontMatchesLayerByLayer) {
  for (const bool peep : {true, false}) {
    const Shape s{3, 9, 11, 0, 4, 0, peep, false};
    const auto plain = training_trace(s, "fp32", false, 0);
    for (const int chunk : {1, 4, 9}) {
      for (const bool late : {false, true}) {
#ifdef MELODL_CUDA_EMULATION
        melodl::cuda::emulated_schedule_late = late;
#else
        if (late) continue;
#endif
        const auto wave = training_trace(s, "fp32", false, chunk);
        ASSERT_EQ(plain.size(), wave.size());
        EXPECT_TRUE(test::allclose(wave, plain, 1e-5, 1e-4))
            << "chunk " << chunk << (peep ? " peep" : " nopeep") << (late ? " late" : " early");
#ifdef MELODL_CUDA_EMULATION
        melodl::cuda::emulated_schedule_late = false;
#endif
      }
    }
  }
}

// train_batch on CUDA against the CPU with every optimiser: the score (with L2) and the
// reported norm follow the CPU's definitions.
TEST_F(CudaBackend, TrainBatchStatsMatchCpuForEveryOptimizer) {
  for (auto kind : {OptimizerKind::sgd, OptimizerKind::adam, OptimizerKind::rmsprop,
                    OptimizerKind::dl4j_rmsprop}) {
    const Shape s{2, 24, 10, 12, 4, 0, true, true};
    auto [gpu, cpu] = twin_networks(s, "fp32", 26);
    TrainConfig tc;
    tc.optimizer.kind = kind;
    tc.optimizer.lr = kind == OptimizerKind::dl4j_rmsprop ? 0.1f : 0.01f;
    tc.optimizer.l2 = 1e-3f;
    tc.optimizer.clip_norm = 1.0f;
    tc.tbptt_fwd = 6;
    tc.tbptt_bwd = 6;
    Trainer tg(std::move(gpu), tc), tcpu(std::move(cpu), tc);
    for (int k = 0; k < 3; ++k) {
      const auto b = test::random_batch(s.T, s.B, s.V, 900 + k, true);
      const StepStats a = tg.train_batch(b.view()), e = tcpu.train_batch(b.view());
      EXPECT_NEAR(a.loss_sum, e.loss_sum, 1e-4 * std::abs(e.loss_sum)) << to_string(kind);
      EXPECT_NEAR(a.score, e.score, 1e-4 * std::abs(e.score)) << to_string(kind);
      EXPECT_NEAR(a.grad_norm, e.grad_norm, 1e-3 * e.grad_norm) << to_string(kind);
    }
    EXPECT_TRUE(test::allclose(std::as_const(tg.network()).params(),
                               std::as_const(tcpu.network()).params(), 1e-4, 1e-3))
        << to_string(kind);
    const auto& sg = std::as_const(tg).optimizer().slots();
    const auto& sc = std::as_const(tcpu).optimizer().slots();
    ASSERT_EQ(sg.size(), sc.size());
    for (std::size_t k = 0; k < sg.size(); ++k)
      EXPECT_TRUE(test::allclose(sg[k], sc[k], 1e-6, 1e-2)) << to_string(kind) << " slot " << k;
    EXPECT_EQ(tg.step_count(), tcpu.step_count());
  }
}

TEST_F(CudaBackend, ApplyUpdateMatchesCpuAndSkipsNonFinite) {
  const Shape s{2, 24, 10, 8, 4, 0, true, false};
  auto [gpu, cpu] = twin_networks(s, "fp32", 27);
  TrainConfig tc;
  tc.optimizer.kind = OptimizerKind::adam;
  tc.optimizer.lr = 0.01f;
  tc.optimizer.clip_norm = 0.5f;
  Trainer tg(std::move(gpu), tc), tcpu(std::move(cpu), tc);
  State sg = tg.network().zero_state(s.B), sc = tcpu.network().zero_state(s.B);
  for (int k = 0; k < 3; ++k) {
    const auto b = test::random_batch(s.T, s.B, s.V, 1000 + k);
    const StepStats a = tg.compute_gradients(b.view(), sg, 0);
    const StepStats e = tcpu.compute_gradients(b.view(), sc, 0);
    const UpdateReport ra = tg.apply_update(a, s.B), re = tcpu.apply_update(e, s.B);
    EXPECT_TRUE(ra.applied);
    EXPECT_NEAR(ra.grad_norm, re.grad_norm, 1e-3 * re.grad_norm);
  }
  EXPECT_TRUE(test::allclose(std::as_const(tg.network()).params(),
                             std::as_const(tcpu.network()).params(), 1e-5, 1e-3));
  EXPECT_TRUE(tg.parameters_finite());
  // a NaN written into the host gradient is uploaded and stops the update
  const auto b = test::random_batch(s.T, s.B, s.V, 1100);
  const StepStats a = tg.compute_gradients(b.view(), sg, 0);
  const std::vector<float> before(std::as_const(tg.network()).params().begin(),
                                  std::as_const(tg.network()).params().end());
  tg.mutable_gradients()[7] = std::numeric_limits<float>::quiet_NaN();
  const UpdateReport r = tg.apply_update(a, s.B);
  EXPECT_FALSE(r.applied);
  EXPECT_FALSE(r.finite_gradient);
  EXPECT_EQ(tg.step_count(), 3);
  EXPECT_TRUE(test::allclose(std::as_const(tg.network()).params(), before, 0, 0));
  // a non-finite weight written on the host is seen by the device check
  tg.network().params()[2] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(tg.parameters_finite());
}

// set_learning_rate changes the rate of the next device update without a slot round trip;
// the result equals the slower path through the non-const optimizer().
TEST_F(CudaBackend, SetLearningRateReachesTheDeviceUpdate) {
  const Shape s{1, 16, 8, 6, 3, 0, true, false};
  TrainConfig tc;
  tc.optimizer.kind = OptimizerKind::rmsprop;
  tc.optimizer.lr = 0.01f;
  auto [g1, c1] = twin_networks(s, "fp32", 31);
  auto [g2, c2] = twin_networks(s, "fp32", 31);
  Trainer a(std::move(g1), tc), b(std::move(g2), tc);
  const auto batch = test::random_batch(s.T, s.B, s.V, 1200);
  a.train_batch(batch.view());
  b.train_batch(batch.view());
  a.set_learning_rate(0.2f);
  b.optimizer().set_lr(0.2f);
  a.train_batch(batch.view());
  b.train_batch(batch.view());
  EXPECT_TRUE(test::allclose(std::as_const(a.network()).params(),
                             std::as_const(b.network()).params(), 0, 0));
  // and it differs from not changing the rate
  auto [g3, c3] = twin_networks(s, "fp32", 31);
  Trainer c(std::move(g3), tc);
  c.train_batch(batch.view());
  c.train_batch(batch.view());
  EXPECT_FALSE(test::allclose(std::as_const(a.network()).params(),
                              std::as_const(c.network()).params(), 0, 0));
}

// ExecutionOptions::cuda_persistent: the variant-(b) layer forward inside training (its
// activations feed the variant-(a) backward) and inference, against the CPU in exact fp32
// (the persistent recurrence is FP32 SIMT whatever cuda_math says).
TEST_F(CudaBackend, PersistentVariantMatchesCpu) {
  for (const Shape& s :
       {Shape{2, 33, 11, 20, 7, 8, true, true}, Shape{1, 13, 7, 5, 3, 0, false, false},
        Shape{2, 200, 60, 50, 32, 0, true, false}}) {
    if (kEmulated && s.H >= 200) continue;  // naive reference GEMMs
    if (!melodl::cuda::lstm_layer_forward_persistent_fits(s.B, s.H)) {
      ADD_FAILURE() << "variant (b) does not fit B=" << s.B << " H=" << s.H
                    << " on this device (it should on sm_80/sm_90)";
      continue;
    }
    auto [gpu, cpu] = twin_networks(s, "fp32", 41, /*persistent=*/true);
    EXPECT_TRUE(gpu.execution().cuda_persistent);
    const ParamLayout L = cpu.layout();
    const auto seg = test::random_batch(s.T, s.B, s.V, 42, s.mask);
    // inference
    State ig = random_state(cpu, s.B, 7), ic = random_state(cpu, s.B, 7);
    std::vector<float> lg(static_cast<std::size_t>(s.T) * s.B * s.V), lc(lg.size());
    gpu.run(seg.inputs, s.T, ig, lg);
    cpu.run(seg.inputs, s.T, ic, lc);
    EXPECT_TRUE(test::allclose(lg, lc, 1e-5, 1e-4)) << s;
    // training gradients
    Trainer tg(std::move(gpu), TrainConfig{}), tc(std::move(cpu), TrainConfig{});
    State sg = random_state(tc.network(), s.B, 8), sc = random_state(tc.network(), s.B, 8);
    const StepStats a = tg.compute_gradients(seg.view(), sg, s.bwd);
    const StepStats e = tc.compute_gradients(seg.view(), sc, s.bwd);
    EXPECT_NEAR(a.loss_sum, e.loss_sum, 1e-4 * std::abs(e.loss_sum)) << s;
    const std::vector<float> ga(tg.gradients().begin(), tg.gradients().end());
    const std::vector<float> ge(tc.gradients().begin(), tc.gradients().end());
    for (const auto& t : L.tensors) {
      const std::vector<float> x(ga.begin() + t.offset, ga.begin() + t.offset + t.size());
      const std::vector<float> y(ge.begin() + t.offset, ge.begin() + t.offset + t.size());
      double scale = 0;
      for (float v : y) scale = std::max(scale, std::abs(static_cast<double>(v)));
      EXPECT_TRUE(test::allclose(x, y, 1e-4 * std::max(1.0, scale), 1e-3))
          << "tensor " << t.name << " " << s;
    }
  }
#ifdef MELODL_CUDA_EMULATION
  EXPECT_GT(melodl::cuda::persistent_forward_calls, 0) << "the backend never took variant (b)";
  EXPECT_GT(melodl::cuda::persistent_backward_calls, 0)
      << "the backend never took variant (b)'s backward";
#endif
}

// cuda_math "bf16" (bf16 GEMM operands, fp32 accumulation; persistent kernels with R and h in
// bf16 on chip) against the CPU. The emulation runs the bf16 specs (kernels/bf16.h), which
// give here at most 2.9e-4 absolute on the logits and 6e-4 of the largest gradient entry;
// the bounds are about 10 times that (cuBLAS may round differently: at least as accurate,
// docs/kernels.md "bf16 mode").
TEST_F(CudaBackend, Bf16MathMatchesCpuLoosely) {
  for (const bool persistent : {false, true}) {
    const Shape s{2, 33, 11, 20, 7, 8, true, true};
    ExecutionOptions gx = execution("cuda", "bf16");
    gx.cuda_persistent = persistent;
    Network gpu(config(s), gx);
    test::randomize(gpu, 43);
    const std::span<const float> p = std::as_const(gpu).params();
    Network cpu(config(s), std::vector<float>(p.begin(), p.end()), execution("cpu", "fp32"));
    const auto seg = test::random_batch(s.T, s.B, s.V, 44, s.mask);
    State ig = random_state(cpu, s.B, 7), ic = random_state(cpu, s.B, 7);
    std::vector<float> lg(static_cast<std::size_t>(s.T) * s.B * s.V), lc(lg.size());
    gpu.run(seg.inputs, s.T, ig, lg);
    cpu.run(seg.inputs, s.T, ic, lc);
    EXPECT_TRUE(test::allclose(lg, lc, 3e-3, 1e-2)) << "logits, persistent " << persistent;
    Trainer tg(std::move(gpu), TrainConfig{}), tc(std::move(cpu), TrainConfig{});
    State sg = random_state(tc.network(), s.B, 8), sc = random_state(tc.network(), s.B, 8);
    const StepStats a = tg.compute_gradients(seg.view(), sg, s.bwd);
    const StepStats e = tc.compute_gradients(seg.view(), sc, s.bwd);
    EXPECT_NEAR(a.loss_sum, e.loss_sum, 1e-2 * std::abs(e.loss_sum)) << persistent;
    const std::vector<float> ga(tg.gradients().begin(), tg.gradients().end());
    const std::vector<float> ge(tc.gradients().begin(), tc.gradients().end());
    double scale = 0;
    for (float v : ge) scale = std::max(scale, std::abs(static_cast<double>(v)));
    EXPECT_TRUE(test::allclose(ga, ge, 5e-3 * std::max(1.0, scale), 1e-2))
        << "gradients, persistent " << persistent;
  }
}

fs::path temp_path(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("melodl_lstm_cuda_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

TEST_F(CudaBackend, CheckpointRoundTripAndBitwiseResume) {
  const Shape s{2, 20, 9, 15, 4, 0, true, false};
  TrainConfig tc;
  tc.optimizer.kind = OptimizerKind::adam;
  tc.optimizer.lr = 0.01f;
  tc.tbptt_fwd = 5;
  tc.tbptt_bwd = 5;
  tc.reset_state_per_batch = false;  // the carried state is saved too
  auto make = [&] { return Trainer(twin_networks(s, "tf32", 28).first, tc); };
  Trainer straight = make(), first = make();
  const fs::path p = temp_path("resume.safetensors");
  for (int k = 0; k < 6; ++k) {
    straight.train_batch(test::random_batch(s.T, s.B, s.V, straight.rng().next_u64()).view());
    if (k < 3) {
      first.train_batch(test::random_batch(s.T, s.B, s.V, first.rng().next_u64()).view());
      if (k == 2) save_checkpoint(p, first, "voc");
    }
  }
  LoadedCheckpoint ck = load_checkpoint(p);
  // the model only: no execution choice in the file
  EXPECT_EQ(ck.network_config.to_json().find("device"), std::string::npos);
  EXPECT_EQ(ck.step, 9);
  // the file holds the device state at save time
  EXPECT_TRUE(test::allclose(ck.params, std::as_const(first.network()).params(), 0, 0));
  EXPECT_EQ(ck.optimizer_slots, std::as_const(first).optimizer().slots());
  ASSERT_EQ(ck.carried_state.batch, s.B);
  EXPECT_TRUE(test::allclose(ck.carried_state.h[1], first.carried_state().h[1], 0, 0));
  Trainer resumed = ck.make_trainer(execution("cuda", "tf32"));
  EXPECT_EQ(resumed.network().device(), Device::cuda);
  for (int k = 3; k < 6; ++k)
    resumed.train_batch(test::random_batch(s.T, s.B, s.V, resumed.rng().next_u64()).view());
  EXPECT_TRUE(test::allclose(std::as_const(resumed.network()).params(),
                             std::as_const(straight.network()).params(), 0, 0));
  EXPECT_EQ(std::as_const(resumed).optimizer().slots(),
            std::as_const(straight).optimizer().slots());
  // the same file resumes on the CPU (device is a runtime choice)
  Trainer on_cpu = ck.make_trainer(execution("cpu", "tf32"));
  EXPECT_EQ(on_cpu.network().device(), Device::cpu);
  EXPECT_TRUE(test::allclose(on_cpu.network().params(), ck.params, 0, 0));
  fs::remove_all(p.parent_path());
}

// Greedy samples from the CUDA and the CPU network, compared up to each stream's first
// near-tie (argmax is robust to fp32 reordering except there).
void expect_same_greedy_samples(const std::vector<std::vector<std::int32_t>>& primes,
                                std::uint64_t seed) {
  const Shape s{2, 32, 12, 1, 1, 0, true, false};
  auto [gpu, cpu] = twin_networks(s, "fp32", seed);
  const int streams = static_cast<int>(primes.size());
  constexpr int kLength = 40;
  // the hook records the CPU's gap between the two largest logits per (stream, step)
  std::vector<std::vector<float>> gap(streams, std::vector<float>(kLength, 0.0f));
  const MaskHook record = [&](int k, int step, std::span<float> z, std::span<std::uint8_t>) {
    std::vector<float> v(z.begin(), z.end());
    std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<float>());
    gap[k][step] = v[0] - v[1];
  };
  Sampler a(gpu, SampleConfig{0.0f, 0, 1}), b(cpu, SampleConfig{0.0f, 0, 1});
  const auto ga = a.sample(kLength, primes);
  const auto gb = b.sample(kLength, primes, record);
  for (int k = 0; k < streams; ++k) {
    int n = 0;
    while (n < kLength && gap[k][n] > 1e-3f) ++n;
    EXPECT_GT(n, 0) << "stream " << k << " starts with a near-tie: pick another seed";
    EXPECT_TRUE(std::equal(ga[k].begin(), ga[k].begin() + n, gb[k].begin()))
        << "stream " << k << " differs within its first " << n << " symbols";
  }
}

// Without a hook, top-k or greedy decoding the draws run on the device (kernels/sample.h)
// with the sampler's uniforms in the host draw's order: the same symbols as the host draw
// (forced here by a hook that changes nothing) on the same network, for streams with
// priming sequences of different lengths, two temperatures, and a second call continuing the
// sampler's random stream.
TEST_F(CudaBackend, DeviceDrawMatchesHostDraw) {
  const Shape s{2, 24, 14, 1, 1, 0, true, false};
  auto [gpu, cpu] = twin_networks(s, "fp32", 30);
  const std::vector<std::vector<std::int32_t>> primes = {{1, 4, 2}, {7}, {3, 3}};
  const MaskHook nothing = [](int, int, std::span<float>, std::span<std::uint8_t>) {};
  for (const float temperature : {0.7f, 1.3f}) {
#ifdef MELODL_CUDA_EMULATION
    const int before = melodl::cuda::sample_calls;
#endif
    Sampler dev_draw(gpu, SampleConfig{temperature, 0, 5}), host_draw(gpu, {temperature, 0, 5});
    for (int call = 0; call < 2; ++call) {
      const auto a = dev_draw.sample(50, primes);
      const auto b = host_draw.sample(50, primes, nothing);
      ASSERT_EQ(a.size(), primes.size());
      EXPECT_EQ(a, b) << "temperature " << temperature << " call " << call;
      std::set<std::int32_t> distinct(a[0].begin(), a[0].end());
      EXPECT_GT(distinct.size(), 2u) << "the draw is not random";
    }
#ifdef MELODL_CUDA_EMULATION
    EXPECT_EQ(melodl::cuda::sample_calls - before, 2 * 50) << "the device draw was not used";
#endif
  }
}

TEST_F(CudaBackend, GreedySamplingMatchesCpu) {
  expect_same_greedy_samples({{1, 4, 2}, {1, 4, 2}, {1, 4, 2}}, 29);
}

// Primes of different lengths: shorter streams start later from a zero state (the device
// session's row reset).
TEST_F(CudaBackend, GreedySamplingWithUnequalPrimesMatchesCpu) {
  expect_same_greedy_samples({{1, 2, 3, 4, 5}, {6}, {7, 8}, {9, 10, 11}}, 32);
}

TEST_F(CudaBackend, HostWritesReachTheDevice) {
  const Shape s{1, 8, 5, 3, 2, 0, false, false};
  auto [gpu, cpu] = twin_networks(s, "fp32", 30);
  // zero every weight on the host: the logits become the output bias (0) on the device too
  for (float& w : gpu.params()) w = 0.0f;
  State st = gpu.zero_state(2);
  std::vector<float> logits(static_cast<std::size_t>(3) * 2 * 5, 1.0f);
  const auto seg = test::random_batch(3, 2, 5, 3);
  gpu.run(seg.inputs, 3, st, logits);
  for (float z : logits) EXPECT_EQ(z, 0.0f);
}

// Issue 15 on the device: output dropout (per step and variational; the masks come from the
// trainer's RNG on the host, so both backends use the same ones), decoupled weight decay and
// a warm-up + cosine schedule, through train_batch (graphs and the wavefront too: dropout
// runs the layers one after another) and compute_gradients with a shorter backward window.
TEST_F(CudaBackend, DropoutWeightDecayAndScheduleMatchCpu) {
  for (const bool variational : {false, true}) {
    for (const bool graphs : {false, true}) {
      const Shape s{3, 16, 10, 12, 4, 0, true, true};
      ExecutionOptions gx = execution("cuda", "fp32");
      gx.cuda_graphs = graphs;
      gx.cuda_wavefront = graphs ? 3 : 0;
      Network gpu(config(s), gx);
      test::randomize(gpu, 33);
      const std::span<const float> p = std::as_const(gpu).params();
      Network cpu(config(s), std::vector<float>(p.begin(), p.end()), execution("cpu", "fp32"));
      TrainConfig tc;
      tc.optimizer.kind = OptimizerKind::adam;
      tc.optimizer.lr = 0.01f;
      tc.optimizer.weight_decay = 0.1f;
      tc.optimizer.clip_norm = 1.0f;
      tc.tbptt_fwd = 6;
      tc.tbptt_bwd = 4;
      tc.dropout.output = 0.3f;
      tc.dropout.variational = variational;
      tc.schedule.kind = LrScheduleKind::cosine;
      tc.schedule.warmup_steps = 2;
      tc.schedule.decay_steps = 4;
      tc.schedule.min_lr = 0.001f;
      Trainer tg(std::move(gpu), tc), tcpu(std::move(cpu), tc);
      const std::string what = std::string(variational ? "variational" : "per step") +
                               (graphs ? " graphs+wavefront" : " eager");
      for (int k = 0; k < 3; ++k) {
        const auto b = test::random_batch(s.T, s.B, s.V, 1300 + k, true);
        const StepStats a = tg.train_batch(b.view()), e = tcpu.train_batch(b.view());
        EXPECT_NEAR(a.loss_sum, e.loss_sum, 1e-4 * std::abs(e.loss_sum)) << what;
        EXPECT_NEAR(a.grad_norm, e.grad_norm, 1e-3 * e.grad_norm) << what;
      }
      EXPECT_EQ(tg.rng().state(), tcpu.rng().state()) << what;
      EXPECT_EQ(tg.learning_rate(), tcpu.learning_rate()) << what;
      EXPECT_TRUE(test::allclose(std::as_const(tg.network()).params(),
                                 std::as_const(tcpu.network()).params(), 1e-4, 1e-3))
          << what;
      State sg = random_state(tg.network(), s.B, 9), sc = random_state(tcpu.network(), s.B, 9);
      const auto mb = test::random_batch(s.T, s.B, s.V, 1400, true);
      const StepStats a = tg.compute_gradients(mb.view(), sg, 5);
      const StepStats e = tcpu.compute_gradients(mb.view(), sc, 5);
      EXPECT_NEAR(a.loss_sum, e.loss_sum, 1e-4 * std::abs(e.loss_sum)) << what;
      test::expect_tensors_close(tcpu.network().layout(), std::as_const(tg).gradients(),
                                 std::as_const(tcpu).gradients(), 1e-4, 1e-3, false, " " + what);
      // evaluation drops nothing, on both
      const auto eb = test::random_batch(s.T, s.B, s.V, 1500);
      EXPECT_NEAR(tg.evaluate(eb.view()).loss_sum, tcpu.evaluate(eb.view()).loss_sum,
                  1e-4 * tcpu.evaluate(eb.view()).loss_sum)
          << what;
    }
  }
}

// Recurrent dropout is CPU-only for now: a clear error, never silently ignored.
TEST_F(CudaBackend, RecurrentDropoutIsRefusedClearly) {
  const Shape s{1, 8, 5, 3, 2, 0, false, false};
  auto [gpu, cpu] = twin_networks(s, "fp32", 34);
  TrainConfig tc;
  tc.dropout.recurrent = 0.2f;
  try {
    Trainer t(std::move(gpu), tc);
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("recurrent dropout"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(Trainer(std::move(cpu), tc));
}

}  // namespace
}  // namespace melodl::lstm
