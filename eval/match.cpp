// eval/match.cpp: note tokens, the alignment scoring scheme and the match reports
// declared in match.h; the scalar alignment is in match_align.cpp, the SIMD kernel in
// match_kernel.cpp and the suffix-array statistics in match_index.cpp. Part of
// melodl_eval; the scoring scheme and the metrics are explained in docs/evaluation.md.
// Tests: tests/eval/match_test.cpp.
#include "eval/match.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "base/error.h"
#include "eval/match_detail.h"

namespace melodl::eval {

using detail::duration_field;
using detail::interval_field;
using detail::intervals_match;
using detail::kDurationClass;
using detail::kIntervalNone;
using detail::rest_field;

// ---- tokens ----------------------------------------------------------------------------
Token make_token(int interval, int duration, int rest) {
  if (interval != kNoInterval &&
      (interval < -encode::kMaxInterval || interval > encode::kMaxInterval))
    throw InvalidArgument("[make_token] interval " + std::to_string(interval) +
                          " outside [-12, 12]");
  if (duration < 0 || duration >= encode::kDurationLevels)
    throw InvalidArgument("[make_token] duration " + std::to_string(duration) + " outside [0, 31]");
  if (rest != kNoRest && (rest < 0 || rest >= encode::kDurationLevels))
    throw InvalidArgument("[make_token] rest " + std::to_string(rest) + " outside [0, 31]");
  const int ifield = interval == kNoInterval ? kIntervalNone : interval + encode::kMaxInterval;
  const int rfield = rest == kNoRest ? 0 : rest + 1;
  return static_cast<Token>(ifield << 11 | duration << 6 | rfield);
}

int token_interval(Token t) {
  const int f = interval_field(t);
  return f == kIntervalNone ? kNoInterval : f - encode::kMaxInterval;
}
int token_duration(Token t) { return duration_field(t); }
int token_rest(Token t) { return rest_field(t) - 1; }

int duration_class(int duration) {
  if (duration < 0 || duration >= encode::kDurationLevels)
    throw InvalidArgument("[duration_class] duration " + std::to_string(duration) +
                          " outside [0, 31]");
  return kDurationClass[duration];
}

TokenizedMelody tokenize(const encode::SymbolMelody& melody) {
  TokenizedMelody out;
  int pending_rest = kNoRest;
  bool first = true;
  for (std::size_t s = 0; s < melody.steps.size(); ++s) {
    const auto& st = melody.steps[s];
    const int dur = std::clamp(st.duration, 0, encode::kDurationLevels - 1);
    if (st.rest) {
      // A rest before the first note has nothing to attach to: a melody starts at its
      // first note. Consecutive rests add up (capped at the largest index).
      if (!first)
        pending_rest = std::min(encode::kDurationLevels - 1, std::max(pending_rest, 0) + dur);
      continue;
    }
    const int ivl =
        first ? kNoInterval : std::clamp(st.interval, -encode::kMaxInterval, encode::kMaxInterval);
    out.tokens.push_back(make_token(ivl, dur, pending_rest));
    out.step_of_token.push_back(s);
    pending_rest = kNoRest;
    first = false;
  }
  return out;
}

// ---- scoring ---------------------------------------------------------------------------
int AlignmentScoring::pair_score(Token a, Token b) const {
  int s = intervals_match(a, b) ? interval_same : interval_diff;
  const int da = duration_field(a), db = duration_field(b);
  s += da == db ? duration_same
                : (kDurationClass[da] == kDurationClass[db] ? duration_near : duration_diff);
  s += rest_field(a) == rest_field(b) ? rest_same : rest_diff;
  return s;
}

int AlignmentScoring::max_pair_score() const { return interval_same + duration_same + rest_same; }

void AlignmentScoring::validate() const {
  for (int v : {interval_same, interval_diff, duration_same, duration_near, duration_diff,
                rest_same, rest_diff, gap_open, gap_extend})
    if (v < -100 || v > 100)
      throw InvalidArgument("[AlignmentScoring] every score must lie in [-100, 100]");
  if (max_pair_score() <= 0)
    throw InvalidArgument("[AlignmentScoring] identical tokens must score > 0, got " +
                          std::to_string(max_pair_score()));
  if (gap_open < 0 || gap_extend <= 0)
    throw InvalidArgument("[AlignmentScoring] gap_open must be >= 0 and gap_extend > 0");
}

// ---- reports --------------------------------------------------------------------------------
std::vector<MatchReport> match_melodies(const CorpusIndex& corpus,
                                        const std::vector<encode::SymbolMelody>& generated,
                                        const MatchOptions& options) {
  options.scoring.validate();
  std::vector<MatchReport> reports;
  reports.reserve(generated.size());
  for (const auto& g : generated) {
    MatchReport r;
    const TokenizedMelody tg = tokenize(g);
    r.tokens = tg.tokens.size();
    r.novelty = corpus.novelty(tg.tokens);
    const std::vector<int> sc = corpus.scores(tg.tokens, options.scoring, options.threads);
    std::vector<std::size_t> order(sc.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    const std::size_t top = std::min(options.top, order.size());
    std::partial_sort(
        order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top), order.end(),
        [&](std::size_t a, std::size_t b) { return sc[a] != sc[b] ? sc[a] > sc[b] : a < b; });
    for (std::size_t k = 0; k < top; ++k) {
      MatchCandidate c;
      c.corpus_index = order[k];
      c.alignment = align(tg.tokens, corpus.melody(order[k]).tokens, options.scoring);
      const double perfect =
          static_cast<double>(options.scoring.max_pair_score()) * static_cast<double>(r.tokens);
      c.score_fraction = perfect > 0 ? c.alignment.score / perfect : 0.0;
      r.candidates.push_back(c);
    }
    reports.push_back(std::move(r));
  }
  return reports;
}

encode::SymbolMelody excerpt(const encode::SymbolMelody& melody, const TokenizedMelody& tokens,
                             std::size_t token_begin, std::size_t token_end) {
  encode::SymbolMelody out;
  if (token_begin >= token_end || token_end > tokens.step_of_token.size()) return out;
  const std::size_t s0 = tokens.step_of_token[token_begin];
  const std::size_t s1 = tokens.step_of_token[token_end - 1];
  if (s1 >= melody.steps.size()) return out;
  out.steps.assign(melody.steps.begin() + static_cast<std::ptrdiff_t>(s0),
                   melody.steps.begin() + static_cast<std::ptrdiff_t>(s1) + 1);
  return out;
}

}  // namespace melodl::eval
