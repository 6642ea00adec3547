// eval/style.cpp: interval/duration/rest histograms, their overlap, and
// the invalid-symbol rate declared in style.h. Part of melodl_eval.
// Tests: tests/eval/style_test.cpp.
#include "eval/style.h"

#include <algorithm>
#include <stdexcept>

#include "base/error.h"

namespace melodl::eval {

namespace {
template <std::size_t N>
void normalise(std::array<double, N>& h, std::size_t total) {
  if (total == 0) return;
  for (double& v : h) v /= static_cast<double>(total);
}
}  // namespace

StyleStats style_of(const std::vector<encode::SymbolMelody>& melodies) {
  StyleStats s;
  for (const auto& m : melodies) {
    bool first = true;
    for (const auto& st : m.steps) {
      const auto dur =
          static_cast<std::size_t>(std::clamp(st.duration, 0, encode::kDurationLevels - 1));
      if (st.rest) {
        s.rests[dur] += 1;
        ++s.rest_count;
        continue;
      }
      s.durations[dur] += 1;
      ++s.note_count;
      if (!first) {
        const int iv = std::clamp(st.interval, -encode::kMaxInterval, encode::kMaxInterval);
        s.intervals[static_cast<std::size_t>(iv + encode::kMaxInterval)] += 1;
        ++s.interval_count;
      }
      first = false;
    }
  }
  normalise(s.intervals, s.interval_count);
  normalise(s.durations, s.note_count);
  normalise(s.rests, s.rest_count);
  return s;
}

StyleOverlap compare_style(const StyleStats& corpus, const StyleStats& samples) {
  StyleOverlap o;
  o.intervals = overlap(corpus.intervals, samples.intervals);
  o.durations = overlap(corpus.durations, samples.durations);
  o.rests = corpus.rest_count == 0 && samples.rest_count == 0
                ? 1.0
                : overlap(corpus.rests, samples.rests);
  return o;
}

InvalidRate invalid_symbol_rate(const std::vector<encode::DecodeResult>& decoded,
                                const std::vector<std::size_t>& line_lengths) {
  if (decoded.size() != line_lengths.size())
    throw InvalidArgument("[invalid_symbol_rate] " + std::to_string(decoded.size()) +
                          " decode results for " + std::to_string(line_lengths.size()) +
                          " line lengths");
  InvalidRate r;
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    if (decoded[i].skipped > line_lengths[i])
      throw InvalidArgument("[invalid_symbol_rate] line " + std::to_string(i) + " skipped " +
                            std::to_string(decoded[i].skipped) + " of " +
                            std::to_string(line_lengths[i]) + " symbols");
    r.symbols += line_lengths[i];
    r.skipped += decoded[i].skipped;
  }
  return r;
}

InvalidRate invalid_symbol_rate(const encode::Codec& codec, const std::vector<std::string>& lines) {
  std::vector<encode::DecodeResult> dec;
  std::vector<std::size_t> len;
  for (const auto& l : lines) {
    dec.push_back(codec.decode(l));
    len.push_back(l.size());
  }
  return invalid_symbol_rate(dec, len);
}

}  // namespace melodl::eval
