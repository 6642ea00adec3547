// eval/style.h: style statistics of melody sets. Interval and duration
// histograms (normalised), their overlap between generated samples and the corpus
// (sum of bin-wise minima: 1 = same distribution, 0 = disjoint), and the rate of
// invalid symbols a codec skipped while decoding generated lines.
// Part of melodl_eval; see docs/evaluation.md. Tests: tests/eval/style_test.cpp.
//
// Example:
//   auto corpus = eval::style_of(training_melodies);
//   auto samples = eval::style_of(generated_melodies);
//   double ov = eval::overlap(corpus.intervals, samples.intervals);
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/melody.h"

namespace melodl::eval {

inline constexpr int kIntervalBins = 2 * encode::kMaxInterval + 1;  // -12..12

struct StyleStats {
  // Fractions summing to 1 (all zero when nothing was counted).
  std::array<double, kIntervalBins> intervals{};            // bin i: interval i - 12
  std::array<double, encode::kDurationLevels> durations{};  // note duration indices
  std::array<double, encode::kDurationLevels> rests{};      // rest duration indices
  std::size_t interval_count = 0;                           // notes after the first of each melody
  std::size_t note_count = 0;
  std::size_t rest_count = 0;
};

// Histograms over every note (durations), every note after a melody's first
// (intervals, out-of-range values clamped) and every rest step.
StyleStats style_of(const std::vector<encode::SymbolMelody>& melodies);

// Sum over bins of min(a, b); both inputs are normalised histograms of equal size.
template <std::size_t N>
double overlap(const std::array<double, N>& a, const std::array<double, N>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < N; ++i) s += a[i] < b[i] ? a[i] : b[i];
  return s;
}

struct StyleOverlap {
  double intervals = 0.0;
  double durations = 0.0;
  double rests = 0.0;  // 1 when neither set has rests
};
StyleOverlap compare_style(const StyleStats& corpus, const StyleStats& samples);

struct InvalidRate {
  std::size_t symbols = 0;  // characters decoded
  std::size_t skipped = 0;  // of those, skipped as invalid or out of place
  double rate() const { return symbols ? static_cast<double>(skipped) / symbols : 0.0; }
};
// From decode results and the lengths of the lines they came from (equal sizes, else
// InvalidArgument).
InvalidRate invalid_symbol_rate(const std::vector<encode::DecodeResult>& decoded,
                                const std::vector<std::size_t>& line_lengths);
// Decodes each line with `codec` and counts.
InvalidRate invalid_symbol_rate(const encode::Codec& codec, const std::vector<std::string>& lines);

}  // namespace melodl::eval
