// lstm/sampler.h: autoregressive sampling from a Network, many streams in one batch,
// with temperature, top-k, priming, a per-step symbol mask hook and its own seeded RNG.
//
// Example:
//   Sampler sampler(net, {.temperature = 0.8f, .top_k = 10, .seed = 7});
//   std::vector<std::int32_t> prime = {start_symbol};
//   auto samples = sampler.sample(/*n=*/10, /*length=*/300, prime);
//   // samples[k] holds 300 generated symbols (the priming sequence is not repeated)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "lstm/network.h"
#include "lstm/rng.h"

namespace melodl::lstm {

namespace cpu {
class Stepper;  // lstm/cpu/stepper.h (internal)
}

struct SampleConfig {
  float temperature = 1.0f;  // logits / temperature; 0 = argmax (greedy)
  int top_k = 0;             // keep the k most likely symbols; 0 = all
  std::uint64_t seed = 12345;
};

// Called once per sample and step before drawing: `logits` [V] may be changed and
// `allowed` [V] (all 1 on entry) cleared to forbid symbols; the draw only picks allowed
// symbols. sample_index is the stream (0..n-1), step the position in the generated output.
// The hook must leave at least one symbol allowed (else InvalidArgument).
using MaskHook = std::function<void(int sample_index, int step, std::span<float> logits,
                                    std::span<std::uint8_t> allowed)>;

class Sampler {
 public:
  // net must outlive the sampler. On the CPU the sampler steps the network on up to
  // net.execution() threads (lstm/cpu/stepper.h: the same symbols for any thread count).
  Sampler(const Network& net, const SampleConfig& config);
  ~Sampler();
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;

  // Generates n streams of `length` symbols, each primed with `prime` (non-empty; all its
  // symbols are fed, the prediction after the last one is the first generated symbol).
  std::vector<std::vector<std::int32_t>> sample(int n, int length,
                                                std::span<const std::int32_t> prime,
                                                const MaskHook& hook = {});
  // As above with one priming sequence per stream (primes.size() streams; lengths may differ).
  std::vector<std::vector<std::int32_t>> sample(
      int length, const std::vector<std::vector<std::int32_t>>& primes, const MaskHook& hook = {});

  // Lower-level: draws one symbol per stream from logits [n,V] (modified in place).
  void draw(std::span<float> logits, int n, int step, std::span<std::int32_t> out,
            const MaskHook& hook = {});

  Rng& rng() { return rng_; }

 private:
  const Network* net_;
  SampleConfig config_;
  Rng rng_;
  std::vector<std::uint8_t> allowed_;
  std::vector<int> order_;
  std::vector<double> pr_;
  std::unique_ptr<cpu::Stepper> stepper_;  // created on the first CPU sample()
};

}  // namespace melodl::lstm
