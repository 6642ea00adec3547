// tests/lstm/sampler_test.cpp: sampling: temperature 0 (and -> 0) is argmax, top-k never
// leaves the top k, the mask hook is respected at every step, draws follow the softmax,
// batched streams with different primes equal separate runs, and seeds reproduce.
// Run: ctest --test-dir build -R Sampler
#include <gtest/gtest.h>

#include <map>

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

TEST(Sampler, RejectsBadArguments) {
  Network net = random_net();
  EXPECT_THROW(Sampler(net, SampleConfig{-1.0f, 0, 1}), InvalidArgument);
  Sampler s(net, SampleConfig{});
  EXPECT_THROW(s.sample(1, 5, std::vector<std::int32_t>{}), InvalidArgument);
  EXPECT_THROW(s.sample(1, 5, std::vector<std::int32_t>{10}), InvalidArgument);
}

}  // namespace
}  // namespace melodl::lstm
