// lstm/rng.h: the library's one documented PRNG (std::mt19937_64) with portable
// uniform/normal draws (our own formulas, not <random>'s implementation-defined
// distributions) and a text state for checkpoints. Same seed -> same numbers on
// every platform and standard library.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace melodl::lstm {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 12345) : engine_(seed) {}

  std::uint64_t next_u64() { return engine_(); }
  // Uniform double in [0, 1): the top 53 bits of one draw.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), n >= 1 (rejection sampling, unbiased).
  std::uint64_t below(std::uint64_t n);
  // Standard normal N(0,1), Box-Muller with both outputs used (the spare is part of the state).
  double normal();

  // Serialised state (engine state words plus the cached normal), and its inverse.
  std::string state() const;
  void set_state(const std::string& text);  // throws InvalidArgument on malformed text

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace melodl::lstm
