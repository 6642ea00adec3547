// lstm/sampler.cpp: Sampler (see sampler.h). Per stream and step: hook -> mask -> top-k ->
// temperature softmax -> inverse-CDF draw with the sampler's Rng (one uniform per draw).
// On a "cuda" network the recurrent state stays on the GPU for the whole sample() call
// (lstm/cuda/backend.h session). With a mask hook, top-k or greedy decoding, per step the
// symbols go up, the logits come down and the draw runs here as on the CPU. Otherwise the
// draws run on the GPU too (kernels/sample.h, the same inverse CDF with the same uniforms
// from this sampler's Rng, in the same order): no copy and no synchronisation per step, the
// symbols come down once at the end; the results equal the host draw's except where a
// uniform falls within float rounding of a CDF boundary (the host sums in double).
#include "lstm/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lstm/cpu/stepper.h"
#include "lstm/cuda/backend.h"

namespace melodl::lstm {

Sampler::Sampler(const Network& net, const SampleConfig& config)
    : net_(&net), config_(config), rng_(config.seed) {
  MELODL_CHECK(std::isfinite(config.temperature) && config.temperature >= 0,
               "[Sampler] temperature must be >= 0, got " + std::to_string(config.temperature));
  MELODL_CHECK(config.top_k >= 0,
               "[Sampler] top_k must be >= 0, got " + std::to_string(config.top_k));
}

Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

void Sampler::draw(std::span<float> logits, int n, int step, std::span<std::int32_t> out,
                   const MaskHook& hook) {
  const int V = net_->config().vocab;
  MELODL_CHECK(
      logits.size() == static_cast<std::size_t>(n) * V && out.size() >= static_cast<std::size_t>(n),
      "[Sampler::draw] logits must be [n,V] and out [n]");
  allowed_.resize(V);
  order_.resize(V);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int s = 0; s < n; ++s) {
    std::span<float> z = logits.subspan(static_cast<std::size_t>(s) * V, V);
    std::fill(allowed_.begin(), allowed_.end(), std::uint8_t{1});
    if (hook) hook(s, step, z, allowed_);
    int n_allowed = 0;
    for (int v = 0; v < V; ++v) {
      if (!allowed_[v] || std::isnan(z[v])) z[v] = kNegInf;
      if (z[v] != kNegInf) ++n_allowed;
    }
    MELODL_CHECK(n_allowed > 0, "[Sampler] the mask hook left no symbol allowed for sample " +
                                    std::to_string(s) + " at step " + std::to_string(step));
    if (config_.top_k > 0 && config_.top_k < n_allowed) {
      for (int v = 0; v < V; ++v) order_[v] = v;
      // ties broken by the lower symbol index, so the kept set is well defined
      std::nth_element(order_.begin(), order_.begin() + (config_.top_k - 1), order_.end(),
                       [&](int a, int b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
      const int kth = order_[config_.top_k - 1];
      for (int v = 0; v < V; ++v)
        if (z[v] < z[kth] || (z[v] == z[kth] && v > kth)) z[v] = kNegInf;
    }
    int best = 0;
    for (int v = 1; v < V; ++v)
      if (z[v] > z[best]) best = v;
    if (config_.temperature == 0.0f) {
      out[s] = best;
      continue;
    }
    // softmax(z / temperature) in double, inverse CDF
    const double inv_t = 1.0 / config_.temperature;
    double sum = 0;
    auto& pr = pr_;
    pr.resize(V);
    for (int v = 0; v < V; ++v) {
      pr[v] = z[v] == kNegInf ? 0.0 : std::exp((static_cast<double>(z[v]) - z[best]) * inv_t);
      sum += pr[v];
    }
    const double u = rng_.uniform() * sum;
    double acc = 0;
    int pick = best;
    for (int v = 0; v < V; ++v) {
      if (pr[v] == 0.0) continue;
      acc += pr[v];
      pick = v;
      if (acc > u) break;
    }
    out[s] = pick;
  }
}

std::vector<std::vector<std::int32_t>> Sampler::sample(int n, int length,
                                                       std::span<const std::int32_t> prime,
                                                       const MaskHook& hook) {
  MELODL_CHECK(n >= 1, "[Sampler::sample] n must be >= 1, got " + std::to_string(n));
  std::vector<std::vector<std::int32_t>> primes(
      n, std::vector<std::int32_t>(prime.begin(), prime.end()));
  return sample(length, primes, hook);
}

std::vector<std::vector<std::int32_t>> Sampler::sample(
    int length, const std::vector<std::vector<std::int32_t>>& primes, const MaskHook& hook) {
  const int n = static_cast<int>(primes.size());
  const int V = net_->config().vocab;
  MELODL_CHECK(n >= 1, "[Sampler::sample] need at least one priming sequence");
  MELODL_CHECK(length >= 0, "[Sampler::sample] length must be >= 0, got " + std::to_string(length));
  std::size_t max_len = 0;
  for (const auto& p : primes) {
    MELODL_CHECK(!p.empty(), "[Sampler::sample] every priming sequence must be non-empty");
    for (auto s : p)
      MELODL_CHECK(s >= 0 && s < V, "[Sampler::sample] priming symbol " + std::to_string(s) +
                                        " out of range [0," + std::to_string(V) + ")");
    max_len = std::max(max_len, p.size());
  }
  cudabk::DeviceNet* dev = net_->device_net();
  State state = dev ? State{} : net_->zero_state(n);
  if (!dev) {
    if (!stepper_)
      stepper_ =
          std::make_unique<cpu::Stepper>(net_->config(), net_->execution().resolved_threads());
    stepper_->load(*net_);  // the weights may have changed since the last call
  }
  if (dev) dev->session_begin(n);
  // draws on the GPU (see the file comment): the logits never need to come down
  const bool device_draw = dev && !hook && config_.top_k == 0 && config_.temperature > 0;
  auto step_net = [&](std::span<const std::int32_t> symbols, std::span<float> out) {
    if (dev)
      dev->session_step(symbols, device_draw ? std::span<float>{} : out);
    else
      stepper_->step(symbols, state, out);
  };
  AlignedFloats logits(static_cast<std::size_t>(n) * V);
  std::vector<std::int32_t> cur(n);
  // Priming: streams with shorter primes are left-padded by starting later, so that every
  // stream's last priming symbol is fed at the same step. Streams idle until they start keep
  // a zero state (they are re-zeroed before their first symbol).
  std::vector<int> zero_rows;
  for (std::size_t k = 0; k < max_len; ++k) {
    zero_rows.clear();
    for (int s = 0; s < n; ++s) {
      const std::size_t start = max_len - primes[s].size();
      cur[s] = k >= start ? primes[s][k - start] : primes[s][0];
      if (k <= start) zero_rows.push_back(s);
    }
    if (dev)
      dev->session_reset_rows(zero_rows);
    else
      state.reset_rows(zero_rows);
    step_net(cur, logits);
  }
  std::vector<std::vector<std::int32_t>> out(n);
  for (auto& o : out) o.reserve(length);
  if (device_draw) {
    // the uniforms of the host draw, in its order (step by step, stream by stream), as
    // floats below 1 (a double just below 1 would round to 1.0f)
    std::vector<float> u(static_cast<std::size_t>(length) * n);
    for (auto& x : u) x = std::min(static_cast<float>(rng_.uniform()), 0x1.fffffep-1f);
    std::vector<std::int32_t> drawn(u.size());
    dev->session_generate(length, config_.temperature, u, drawn);
    for (int step = 0; step < length; ++step)
      for (int s = 0; s < n; ++s) out[s].push_back(drawn[static_cast<std::size_t>(step) * n + s]);
    return out;
  }
  for (int step = 0; step < length; ++step) {
    draw(logits, n, step, cur, hook);
    for (int s = 0; s < n; ++s) out[s].push_back(cur[s]);
    if (step + 1 < length) step_net(cur, logits);
  }
  return out;
}

}  // namespace melodl::lstm
