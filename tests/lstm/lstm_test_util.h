// tests/lstm/lstm_test_util.h: shared helpers of the melodl::lstm tests: the one
// comparison function (expect_allclose, |a-e| <= atol + rtol*|e|, reporting the worst
// element and the share of the error budget used), seeded random batches and small configs,
// and a reducer that only claims a rank of a data-parallel job.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "lstm/network.h"
#include "lstm/reducer.h"
#include "lstm/trainer.h"

namespace melodl::lstm::test {

template <class A, class E>
::testing::AssertionResult allclose_span(std::span<const A> a, std::span<const E> e, double atol,
                                         double rtol) {
  if (a.size() != e.size())
    return ::testing::AssertionFailure() << "size " << a.size() << " != expected size " << e.size();
  double worst_share = 0, max_abs = 0, max_rel = 0;
  std::size_t worst = 0, bad = 0;
  std::string first;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const double x = static_cast<double>(a[k]), y = static_cast<double>(e[k]);
    const double d = std::abs(x - y), budget = atol + rtol * std::abs(y);
    max_abs = std::max(max_abs, d);
    if (y != 0) max_rel = std::max(max_rel, d / std::abs(y));
    const double share = d / budget;
    if (!(share <= worst_share)) {
      worst_share = share;
      worst = k;
    }
    if (!(d <= budget)) {
      if (bad < 5)
        first += " [" + std::to_string(k) + "] " + std::to_string(x) + " vs " + std::to_string(y);
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << a.size() << " elements out of tolerance (atol " << atol << ", rtol "
         << rtol << "); max abs err " << max_abs << ", max rel err " << max_rel
         << "; worst element " << worst << " uses " << worst_share * 100
         << "% of its budget; first mismatches:" << first;
}

// Any two contiguous ranges (std::vector, AlignedFloats, spans).
template <class CA, class CE>
::testing::AssertionResult allclose(const CA& a, const CE& e, double atol, double rtol) {
  using A = std::remove_cv_t<std::remove_reference_t<decltype(*std::data(a))>>;
  using E = std::remove_cv_t<std::remove_reference_t<decltype(*std::data(e))>>;
  return allclose_span(std::span<const A>(std::data(a), std::size(a)),
                       std::span<const E>(std::data(e), std::size(e)), atol, rtol);
}

// Gradients per tensor of `layout` (a failure names the tensor): the summed-loss gradients
// grow with T*B, so atol is scaled by each expected tensor's largest entry; with
// `nonzero`, every expected tensor must have a non-zero entry.
template <class CA, class CE>
void expect_tensors_close(const ParamLayout& layout, const CA& actual, const CE& expected,
                          double atol, double rtol, bool nonzero = true,
                          const std::string& what = "") {
  for (const auto& t : layout.tensors) {
    const auto a = std::span(std::data(actual), std::size(actual)).subspan(t.offset, t.size());
    const auto e = std::span(std::data(expected), std::size(expected)).subspan(t.offset, t.size());
    double scale = 0;
    for (auto v : e) scale = std::max(scale, std::abs(static_cast<double>(v)));
    EXPECT_TRUE(allclose(a, e, atol * std::max(1.0, scale), rtol)) << "tensor " << t.name << what;
    if (nonzero) {
      EXPECT_GT(scale, 0.0) << "tensor " << t.name << " has an all-zero gradient";
    }
  }
}

struct RandomBatch {
  int T = 0, B = 0;
  std::vector<std::int32_t> inputs, targets;
  std::vector<float> mask;
  Batch view() const { return Batch{T, B, inputs, targets, mask}; }
};

inline RandomBatch random_batch(int T, int B, int V, std::uint64_t seed, bool with_mask = false) {
  std::mt19937_64 g(seed);
  RandomBatch r;
  r.T = T;
  r.B = B;
  for (int k = 0; k < T * B; ++k) {
    r.inputs.push_back(static_cast<std::int32_t>(g() % V));
    r.targets.push_back(static_cast<std::int32_t>(g() % V));
    if (with_mask) r.mask.push_back(g() % 4 == 0 ? 0.0f : 1.0f);
  }
  return r;
}

inline NetworkConfig small_config(int V, int layers, int H, bool peepholes) {
  NetworkConfig c;
  c.vocab = V;
  c.layers = layers;
  c.hidden = H;
  c.peepholes = peepholes;
  c.seed = 99;
  return c;
}

// The CPU backend with a fixed thread count (results are deterministic per count).
inline ExecutionOptions on_cpu(int threads = 1) {
  ExecutionOptions e;
  e.threads = threads;
  return e;
}

// Replaces the weights by U(-s,s) draws (s ~ 1/sqrt(H) unless given) so gates are not
// saturated: saturated sigmoids hide backward bugs (style.md 2.6).
inline void randomize(Network& net, std::uint64_t seed, float scale = 0) {
  std::mt19937_64 g(seed);
  if (scale == 0) scale = 1.0f / std::sqrt(static_cast<float>(net.config().hidden));
  std::uniform_real_distribution<float> u(-scale, scale);
  for (auto& w : net.params()) w = u(g);
}

// A gradient reducer that only claims rank `rank` of a job of `ranks` (its sums and broadcasts
// leave the values as they are): what code that shares work or draws by rank sees.
class ClaimRank final : public GradientReducer {
 public:
  ClaimRank(int rank, int ranks) : rank_(rank), ranks_(ranks) {}
  int rank() const override { return rank_; }
  int ranks() const override { return ranks_; }
  void sum(std::span<float>) override {}
  void sum(std::span<double>) override {}
  void broadcast(std::span<float>, int) override {}

 private:
  int rank_, ranks_;
};

}  // namespace melodl::lstm::test
