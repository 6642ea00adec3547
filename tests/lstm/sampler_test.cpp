// tests/lstm/sampler_test.cpp: sampling: temperature 0 (and -> 0) is argmax, top-k never
// leaves the top k, the mask hook is respected at every step, draws follow the softmax,
// batched streams with different primes equal separate runs, and seeds reproduce; the CPU
// stepper the sampler runs on (lstm/cpu/stepper.h) equals Network::step up to rounding, and
// its results depend neither on the thread count nor on the batch.
// Run: ctest --test-dir build -R Sampler
#include <gtest/gtest.h>

#include <map>

#include <cmath>
#include <random>

#include "lstm/cpu/stepper.h"
#include "lstm/sampler.h"
#include "lstm_test_util.h"

namespace melodl::lstm {
namespace {

Network random_net(int V = 10) {
  Network net(test::small_config(V, 2, 16, true), test::on_cpu());
  test::randomize(net, 17, 0.8f);
  return net;
}

TEST(Sampler, TemperatureZeroAndNearZeroAreArgmax) {
  Network net = random_net();
  for (float temp : {0.0f, 1e-3f}) {
    Sampler s(net, SampleConfig{temp, 0, 3});
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> z(10);
      for (int v = 0; v < 10; ++v) z[v] = static_cast<float>((v * 7 + trial * 3) % 10) * 0.1f;
      const int expect = static_cast<int>(std::max_element(z.begin(), z.end()) - z.begin());
      std::int32_t out = -1;
      s.draw(z, 1, 0, std::span<std::int32_t>(&out, 1));
      EXPECT_EQ(out, expect) << "temperature " << temp;
    }
  }
}

TEST(Sampler, TopKNeverEmitsOutsideTopK) {
  Network net = random_net();
  Sampler s(net, SampleConfig{5.0f, 3, 4});  // high temperature: tails would show up
  const std::vector<float> base = {0.1f, 2.0f, -1.0f, 1.5f, 0.3f, 1.9f, -3.0f, 0.0f, 0.5f, 0.2f};
  std::map<int, int> seen;
  for (int k = 0; k < 3000; ++k) {
    auto z = base;
    std::int32_t out;
    s.draw(z, 1, k, std::span<std::int32_t>(&out, 1));
    ++seen[out];
  }
  EXPECT_EQ(seen.size(), 3u);
  for (int v : {1, 5, 3}) EXPECT_GT(seen[v], 500) << v;
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  Network net = random_net(4);
  Sampler s(net, SampleConfig{1.0f, 0, 9});
  const std::vector<float> z0 = {0.0f, 1.0f, 2.0f, -1.0f};
  double sum = 0;
  for (float v : z0) sum += std::exp(v);
  std::vector<int> counts(4);
  const int n = 20000;
  for (int k = 0; k < n; ++k) {
    auto z = z0;
    std::int32_t out;
    s.draw(z, 1, k, std::span<std::int32_t>(&out, 1));
    ++counts[out];
  }
  for (int v = 0; v < 4; ++v) {
    const double p = std::exp(z0[v]) / sum;
    // 5 standard deviations of a binomial count
    EXPECT_NEAR(counts[v], n * p, 5 * std::sqrt(n * p * (1 - p))) << "symbol " << v;
  }
}

TEST(Sampler, MaskHookIsRespected) {
  Network net = random_net();
  Sampler s(net, SampleConfig{2.0f, 0, 5});
  // Stream k may only emit symbols congruent to k mod 3, and never symbol 9 after step 10.
  int calls = 0;
  const MaskHook hook = [&](int sample, int step, std::span<float>, std::span<std::uint8_t> ok) {
    ++calls;
    for (int v = 0; v < 10; ++v)
      if (v % 3 != sample % 3 || (step > 10 && v == 9)) ok[v] = 0;
  };
  const std::vector<std::int32_t> prime = {1, 2};
  const auto out = s.sample(6, 50, prime, hook);
  EXPECT_EQ(calls, 6 * 50);
  for (int k = 0; k < 6; ++k) {
    ASSERT_EQ(out[k].size(), 50u);
    for (int t = 0; t < 50; ++t) {
      EXPECT_EQ(out[k][t] % 3, k % 3);
      if (t > 10) {
        EXPECT_NE(out[k][t], 9);
      }
    }
  }
  const MaskHook none = [](int, int, std::span<float>, std::span<std::uint8_t> ok) {
    std::fill(ok.begin(), ok.end(), std::uint8_t{0});
  };
  EXPECT_THROW(s.sample(1, 3, prime, none), InvalidArgument);
}

TEST(Sampler, BatchedStreamsEqualSeparateRuns) {
  Network net = random_net();
  const std::vector<std::vector<std::int32_t>> primes = {{1, 2, 3, 4}, {5}, {6, 7}};
  Sampler batch(net, SampleConfig{0.0f, 0, 1});
  const auto together = batch.sample(20, primes);
  for (std::size_t k = 0; k < primes.size(); ++k) {
    Sampler alone(net, SampleConfig{0.0f, 0, 1});
    const auto one = alone.sample(1, 20, primes[k]);
    EXPECT_EQ(one[0], together[k]) << "stream " << k;
  }
}

TEST(Sampler, SameSeedSameSamples) {
  Network net = random_net();
  const std::vector<std::int32_t> prime = {3};
  Sampler a(net, SampleConfig{1.0f, 0, 77}), b(net, SampleConfig{1.0f, 0, 77}),
      c(net, SampleConfig{1.0f, 0, 78});
  const auto sa = a.sample(4, 40, prime);
  EXPECT_EQ(sa, b.sample(4, 40, prime));
  EXPECT_NE(sa, c.sample(4, 40, prime));
}

// Steps a network `steps` times from a zero state with the stepper; returns every step's
// logits [steps][B,V] and leaves the final state in `state`.
std::vector<float> stepper_run(const Network& net, int threads,
                               const std::vector<std::int32_t>& syms, int B, State& state) {
  cpu::Stepper st(net.config(), threads);
  st.load(net);
  const int V = net.config().vocab;
  state = net.zero_state(B);
  std::vector<float> all;
  std::vector<float> logits(static_cast<std::size_t>(B) * V);
  for (std::size_t t = 0; t * B < syms.size(); ++t) {
    st.step(std::span(syms).subspan(t * B, B), state, logits);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

TEST(Stepper, EqualsNetworkStepUpToRounding) {
  for (int layers : {1, 2, 3})
    for (bool peep : {true, false})
      for (int H : {16, 200}) {  // one thread; two (about 64 units per thread), a 96/104 split
        Network net(test::small_config(37, layers, H, peep), test::on_cpu());
        test::randomize(net, 5 + layers, 1.5f / std::sqrt(static_cast<float>(H)));
        const int B = 5, T = 12, V = 37;
        std::mt19937 g(3);
        std::vector<std::int32_t> syms(static_cast<std::size_t>(T) * B);
        for (auto& s : syms) s = static_cast<std::int32_t>(g() % V);
        State mine;
        const auto got = stepper_run(net, 2, syms, B, mine);
        State ref = net.zero_state(B);
        std::vector<float> logits(static_cast<std::size_t>(B) * V);
        double worst = 0;
        for (int t = 0; t < T; ++t) {
          net.step(std::span(syms).subspan(static_cast<std::size_t>(t) * B, B), ref, logits);
          for (int k = 0; k < B * V; ++k)
            worst = std::max(worst, std::abs(static_cast<double>(logits[k]) -
                                             got[static_cast<std::size_t>(t) * B * V + k]));
        }
        EXPECT_LT(worst, 2e-5) << layers << " layers, H " << H << ", peepholes " << peep;
        for (int l = 0; l < layers; ++l)
          for (std::size_t k = 0; k < ref.h[l].size(); ++k) {
            ASSERT_NEAR(ref.h[l][k], mine.h[l][k], 2e-5) << "layer " << l;
            ASSERT_NEAR(ref.c[l][k], mine.c[l][k], 2e-5) << "layer " << l;
          }
      }
}

TEST(Stepper, SameBitsForAnyThreadCountAndBatch) {
  Network net(test::small_config(60, 2, 200, true), test::on_cpu());
  test::randomize(net, 11, 0.1f);
  const int B = 7, T = 9, V = 60;  // 7 rows: register blocks of 4 (or 2) and a remainder
  std::mt19937 g(8);
  std::vector<std::int32_t> syms(static_cast<std::size_t>(T) * B);
  for (auto& s : syms) s = static_cast<std::int32_t>(g() % V);
  State s1, s2;
  const auto one = stepper_run(net, 1, syms, B, s1);
  const auto two = stepper_run(net, 2, syms, B, s2);
  EXPECT_EQ(one, two);  // bitwise
  EXPECT_EQ(cpu::Stepper(net.config(), 2).threads(), 2);
  // Stream 5 alone gives the same bits as in the batch of 7.
  std::vector<std::int32_t> alone(T);
  for (int t = 0; t < T; ++t) alone[t] = syms[static_cast<std::size_t>(t) * B + 5];
  State s3;
  const auto single = stepper_run(net, 2, alone, 1, s3);
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v)
      ASSERT_EQ(single[static_cast<std::size_t>(t) * V + v],
                two[(static_cast<std::size_t>(t) * B + 5) * V + v])
          << "step " << t << " symbol " << v;
}

TEST(Sampler, SameSamplesForAnyThreadCount) {
  NetworkConfig cfg = test::small_config(40, 2, 192, true);
  Network one(cfg, test::on_cpu(1)), two(cfg, test::on_cpu(2));
  test::randomize(one, 21, 0.15f);
  test::randomize(two, 21, 0.15f);
  const std::vector<std::int32_t> prime = {3, 1, 4};
  Sampler a(one, SampleConfig{1.0f, 0, 9}), b(two, SampleConfig{1.0f, 0, 9});
  EXPECT_EQ(a.sample(3, 80, prime), b.sample(3, 80, prime));
  // The weights are packed per call: a change between calls is seen (a fresh sampler on the
  // changed weights, at the same point of its random draws, gives the same symbols).
  a.sample(1, 40, prime);
  for (auto& w : one.params()) w = -w;
  const auto after = a.sample(1, 40, prime);
  Sampler fresh(one, SampleConfig{1.0f, 0, 9});
  fresh.sample(3, 80, prime);
  fresh.sample(1, 40, prime);
  EXPECT_EQ(after, fresh.sample(1, 40, prime));
}

TEST(Sampler, RejectsBadArguments) {
  Network net = random_net();
  EXPECT_THROW(Sampler(net, SampleConfig{-1.0f, 0, 1}), InvalidArgument);
  Sampler s(net, SampleConfig{});
  EXPECT_THROW(s.sample(1, 5, std::vector<std::int32_t>{}), InvalidArgument);
  EXPECT_THROW(s.sample(1, 5, std::vector<std::int32_t>{10}), InvalidArgument);
}

}  // namespace
}  // namespace melodl::lstm
