// eval/match_detail.h: private to eval/match*.cpp (not part of the eval interface): the
// token fields, token identity, the duration classes and the SIMD batch layout shared by
// the token code (match.cpp), the scalar alignment (match_align.cpp), the corpus index
// (match_index.cpp) and the SIMD kernel (match_kernel.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "eval/match.h"

namespace melodl::eval::detail {

// Token layout: interval field (interval + 12, or 25 = unknown) in bits 11..15, duration
// in bits 6..10, rest field (rest + 1, or 0 = none) in bits 0..5. The largest token is
// 25 << 11 | 31 << 6 | 32 = 53216, below kSeparator.
inline constexpr int kIntervalNone = 25;

inline int interval_field(Token t) { return t >> 11; }
inline int duration_field(Token t) { return (t >> 6) & 31; }
inline int rest_field(Token t) { return t & 63; }

inline bool intervals_match(Token a, Token b) {
  const int ia = interval_field(a), ib = interval_field(b);
  return ia == ib || ia == kIntervalNone || ib == kIntervalNone;
}

inline bool tokens_identical(Token a, Token b) {
  return intervals_match(a, b) && duration_field(a) == duration_field(b) &&
         rest_field(a) == rest_field(b);
}

// 0 for index 0, else 1 + round(2 log2 k): 1->1, 2->3, 3->4, 4->5, 6->6, 8->7, 12->8, 16->9.
inline constexpr std::array<int, encode::kDurationLevels> kDurationClass = [] {
  std::array<int, encode::kDurationLevels> c{};
  // Boundaries of round(2 log2 k) are at k = 2^((2r+1)/4); computed with integers:
  // round(2 log2 k) >= r  <=>  k^4 >= 2^(2r-1), i.e. 2 k^4 >= 4^r.
  for (int k = 1; k < encode::kDurationLevels; ++k) {
    int r = 0;
    const long long k4 = 2LL * k * k * k * k;
    while ((1LL << (2 * (r + 1))) <= k4) ++r;
    c[k] = 1 + r;
  }
  return c;
}();

// Best local-alignment score of q against t[0, n), scalar int32 in linear memory: the SIMD
// kernel's fallback when int16 could overflow (match_align.cpp).
int local_score_scalar(const std::vector<Token>& q, const Token* t, std::size_t n,
                       const AlignmentScoring& sc);

// SIMD layout: one corpus melody per int16 lane, 16 lanes per batch.
inline constexpr int kLanes = 16;
inline constexpr std::int16_t kPadField = 100;  // never equals a real field value

}  // namespace melodl::eval::detail

namespace melodl::eval {

struct CorpusIndex::Batch {
  std::size_t length = 0;                           // longest melody in the batch, in tokens
  std::array<std::size_t, detail::kLanes> index{};  // corpus index per lane
  int lanes = 0;                                    // lanes in use
  // Token fields, transposed: [length][kLanes]; pad lanes hold kPadField, valid 0.
  std::vector<std::int16_t> ivl, dur, cls, rest, valid;
};

}  // namespace melodl::eval
