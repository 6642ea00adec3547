// tests/eval/match_linear_test.cpp: the linear-time rewrites of eval/match (issue 14
// point 3) give exactly what the former quadratic code gave. align() (one pass, path
// summaries, linear memory) is checked against the former traceback over a pointer
// matrix; CorpusIndex::matching_statistics (suffix links through the LCP array) against
// the former restart-at-every-position narrowing over a suffix array sorted naively.
// Both references below are the former implementations, kept here as oracles.
// Run: <build>/tests/eval/eval_test --gtest_filter='Linear*'
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "eval/match.h"

namespace mp = melodl::eval;
using melodl::encode::Step;
using melodl::encode::SymbolMelody;
using mp::Token;

namespace {

bool identical(Token a, Token b) {  // tokens_identical: interval 25 is a wildcard
  const int ia = a >> 11, ib = b >> 11;
  return (ia == ib || ia == 25 || ib == 25) && (a & 0x7FF) == (b & 0x7FF);
}

// The former align(): full DP with a query x target pointer matrix, then traceback.
mp::Alignment reference_align(const std::vector<Token>& query, const std::vector<Token>& target,
                              const mp::AlignmentScoring& sc) {
  constexpr int kNegInf = INT_MIN / 4;
  enum : std::uint8_t { kFromZero = 0, kFromDiag = 1, kFromE = 2, kFromF = 3 };
  mp::Alignment a;
  const std::size_t m = query.size(), n = target.size();
  if (m == 0 || n == 0) return a;
  const int oe = sc.gap_open + sc.gap_extend, ext = sc.gap_extend;
  std::vector<std::uint8_t> ptr(m * n);
  std::vector<int> hprev(n + 1, 0), hcur(n + 1, 0), f(n + 1, kNegInf);
  int best = 0;
  std::size_t bi = 0, bj = 0;
  for (std::size_t i = 1; i <= m; ++i) {
    int e = kNegInf;
    hcur[0] = 0;
    for (std::size_t j = 1; j <= n; ++j) {
      const int e_open = hcur[j - 1] - oe, e_ext = e - ext;
      e = std::max(e_open, e_ext);
      const int f_open = hprev[j] - oe, f_ext = f[j] - ext;
      f[j] = std::max(f_open, f_ext);
      const int diag = hprev[j - 1] + sc.pair_score(query[i - 1], target[j - 1]);
      int h = 0;
      std::uint8_t src = kFromZero;
      if (diag > h) h = diag, src = kFromDiag;
      if (e > h) h = e, src = kFromE;
      if (f[j] > h) h = f[j], src = kFromF;
      hcur[j] = h;
      ptr[(i - 1) * n + (j - 1)] =
          static_cast<std::uint8_t>(src | (e_ext > e_open ? 4 : 0) | (f_ext > f_open ? 8 : 0));
      if (h > best) best = h, bi = i, bj = j;
    }
    std::swap(hprev, hcur);
  }
  a.score = best;
  if (best == 0) return a;
  std::size_t i = bi, j = bj;
  int state = kFromDiag;
  while (i > 0 && j > 0) {
    const std::uint8_t p = ptr[(i - 1) * n + (j - 1)];
    if (state == kFromDiag) {
      const int src = p & 3;
      if (src == kFromZero) break;
      if (src == kFromDiag) {
        ++a.columns, ++a.pairs;
        if (identical(query[i - 1], target[j - 1])) ++a.identical;
        --i, --j;
        continue;
      }
      state = src;
    }
    if (state == kFromE) {
      ++a.columns;
      state = (p & 4) ? kFromE : kFromDiag;
      --j;
    } else {
      ++a.columns;
      state = (p & 8) ? kFromF : kFromDiag;
      --i;
    }
  }
  a.query_begin = i, a.query_end = bi;
  a.target_begin = j, a.target_end = bj;
  a.identity = a.columns ? 100.0 * static_cast<double>(a.identical) / a.columns : 0.0;
  return a;
}

void expect_same(const mp::Alignment& a, const mp::Alignment& b, const char* what) {
  EXPECT_EQ(a.score, b.score) << what;
  EXPECT_EQ(a.query_begin, b.query_begin) << what;
  EXPECT_EQ(a.query_end, b.query_end) << what;
  EXPECT_EQ(a.target_begin, b.target_begin) << what;
  EXPECT_EQ(a.target_end, b.target_end) << what;
  EXPECT_EQ(a.columns, b.columns) << what;
  EXPECT_EQ(a.pairs, b.pairs) << what;
  EXPECT_EQ(a.identical, b.identical) << what;
  EXPECT_EQ(a.identity, b.identity) << what;
}

// The former matching_statistics over the corpus text (melodies each followed by
// kSeparator) and a suffix array sorted by comparing whole suffixes.
struct ReferenceIndex {
  std::vector<Token> text;
  std::vector<std::size_t> sa;

  explicit ReferenceIndex(const mp::CorpusIndex& index) {
    for (std::size_t i = 0; i < index.size(); ++i) {
      const auto& t = index.melody(i).tokens;
      text.insert(text.end(), t.begin(), t.end());
      text.push_back(mp::kSeparator);
    }
    sa.resize(text.size());
    for (std::size_t i = 0; i < sa.size(); ++i) sa[i] = i;
    std::sort(sa.begin(), sa.end(), [&](std::size_t a, std::size_t b) {
      return std::lexicographical_compare(text.begin() + static_cast<long>(a), text.end(),
                                          text.begin() + static_cast<long>(b), text.end());
    });
  }

  std::size_t narrow(const std::vector<Token>& query, std::size_t start,
                     std::vector<std::pair<std::size_t, std::size_t>>* ranges) const {
    const std::size_t m = query.size(), n = text.size();
    std::size_t lo = 0, hi = n, k = 0;
    if (ranges) ranges->clear();
    while (start + k < m && lo < hi) {
      const long long c = query[start + k];
      auto sym = [&](std::size_t x) -> long long {
        const std::size_t p = sa[x] + k;
        return p < n ? text[p] : -1;
      };
      std::size_t a = lo, b = hi;
      while (a < b) {
        const std::size_t mid = a + (b - a) / 2;
        if (sym(mid) < c)
          a = mid + 1;
        else
          b = mid;
      }
      const std::size_t c_lo = a;
      b = hi;
      while (a < b) {
        const std::size_t mid = a + (b - a) / 2;
        if (sym(mid) <= c)
          a = mid + 1;
        else
          b = mid;
      }
      if (c_lo == a) break;
      lo = c_lo, hi = a;
      ++k;
      if (ranges) ranges->emplace_back(lo, hi);
    }
    return k;
  }

  void matching_statistics(const std::vector<Token>& query, std::vector<std::size_t>& length,
                           std::vector<std::size_t>& text_pos) const {
    const std::size_t m = query.size();
    length.assign(m, 0);
    text_pos.assign(m, 0);
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    const auto unknown = [](Token t) { return (t >> 11) == 25; };
    for (std::size_t i = 0; i < m; ++i) {
      if (i == 0 && unknown(query[0])) continue;
      length[i] = narrow(query, i, &ranges);
      if (length[i]) text_pos[i] = sa[ranges.back().first];
    }
    if (m == 0 || !unknown(query[0])) return;
    bool any = false;
    for (Token t : text) any = any || (t != mp::kSeparator && identical(t, query[0]));
    if (!any) return;
    length[0] = 1;
    for (std::size_t p = 0; p < text.size(); ++p)
      if (identical(text[p], query[0]) && text[p] != mp::kSeparator) {
        text_pos[0] = p;
        break;
      }
    if (m < 2) return;
    narrow(query, 1, &ranges);
    for (std::size_t k = ranges.size(); k-- > 0;) {
      for (std::size_t x = ranges[k].first; x < ranges[k].second; ++x) {
        const std::size_t p = sa[x];
        if (p > 0 && text[p - 1] != mp::kSeparator && identical(text[p - 1], query[0])) {
          length[0] = k + 2;
          text_pos[0] = p - 1;
          return;
        }
      }
    }
  }
};

// Melodies over a tiny alphabet (intervals -1..1, durations 1..2, few rests): long
// repeats, many equal suffixes, many alignment ties.
SymbolMelody small_alphabet_melody(std::mt19937& rng, std::size_t n) {
  std::uniform_int_distribution<int> iv(-1, 1), dur(1, 2), coin(0, 19);
  SymbolMelody m;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && coin(rng) == 0) m.steps.push_back(Step{true, 0, 1});
    m.steps.push_back(Step{false, i == 0 ? 0 : iv(rng), dur(rng)});
  }
  return m;
}

std::vector<Token> tokens_of(const SymbolMelody& m) { return mp::tokenize(m).tokens; }

void check_statistics(const mp::CorpusIndex& index, const ReferenceIndex& ref,
                      const std::vector<Token>& q, const char* what) {
  std::vector<std::size_t> len, pos, rlen, rpos;
  index.matching_statistics(q, len, pos);
  ref.matching_statistics(q, rlen, rpos);
  ASSERT_EQ(len, rlen) << what;
  ASSERT_EQ(pos, rpos) << what;
}

}  // namespace

TEST(LinearAlign, SameAsTheFormerTracebackOnRandomAndTiedInputs) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> len(0, 60), small(-3, 3), pos(1, 4), gap(0, 3);
  for (int rep = 0; rep < 300; ++rep) {
    const auto q = tokens_of(small_alphabet_melody(rng, static_cast<std::size_t>(len(rng))));
    const auto t = tokens_of(small_alphabet_melody(rng, static_cast<std::size_t>(len(rng))));
    mp::AlignmentScoring sc;  // small weights: many equal scores, so ties decide the path
    if (rep % 2) {
      sc.interval_same = pos(rng), sc.interval_diff = small(rng);
      sc.duration_same = pos(rng), sc.duration_near = small(rng), sc.duration_diff = small(rng);
      sc.rest_same = small(rng), sc.rest_diff = small(rng);
      sc.gap_open = gap(rng), sc.gap_extend = pos(rng);
      if (sc.max_pair_score() <= 0) sc.interval_same = 4;
    }
    expect_same(mp::align(q, t, sc), reference_align(q, t, sc), "random pair");
  }
}

TEST(LinearAlign, SameAsTheFormerTracebackWhenOnlyTheLastRowsCarryPaths) {
  // Long queries against short targets: the second pass carries path summaries only over
  // the rows near the best cell (n (1 + pmax / gap_extend) of them), scores before.
  std::mt19937 rng(14);
  std::uniform_int_distribution<int> qlen(1000, 3000), tlen(1, 25), small(-3, 3), pos(1, 4),
      gap(0, 3);
  for (int rep = 0; rep < 40; ++rep) {
    const auto q = tokens_of(small_alphabet_melody(rng, static_cast<std::size_t>(qlen(rng))));
    const auto t = tokens_of(small_alphabet_melody(rng, static_cast<std::size_t>(tlen(rng))));
    mp::AlignmentScoring sc;
    if (rep % 2) {
      sc.interval_same = pos(rng), sc.interval_diff = small(rng);
      sc.duration_same = pos(rng), sc.duration_near = small(rng), sc.duration_diff = small(rng);
      sc.rest_same = small(rng), sc.rest_diff = small(rng);
      sc.gap_open = gap(rng), sc.gap_extend = 1 + 3 * pos(rng);
      if (sc.max_pair_score() <= 0) sc.interval_same = 4;
    }
    expect_same(mp::align(q, t, sc), reference_align(q, t, sc), "long query, short target");
  }
}

TEST(LinearAlign, SameAsTheFormerTracebackOnLongInputs) {
  // A long generated melody holding a mutated copy of a corpus melody, and the reverse.
  std::mt19937 rng(12);
  const auto target = tokens_of(small_alphabet_melody(rng, 400));
  auto query = tokens_of(small_alphabet_melody(rng, 3000));
  std::copy(target.begin(), target.end(), query.begin() + 1700);
  for (std::size_t k = 1710; k < 2000; k += 37) query[k] = mp::make_token(5, 9, mp::kNoRest);
  const mp::AlignmentScoring sc;
  expect_same(mp::align(query, target, sc), reference_align(query, target, sc), "long query");
  expect_same(mp::align(target, query, sc), reference_align(target, query, sc), "long target");
  const auto a = mp::align(query, target, sc);
  EXPECT_GE(a.query_begin, 1650u);
  EXPECT_LE(a.query_end, 2150u);
}

TEST(LinearAlign, LongQueryNeedsNoQuadraticMemory) {
  // 100k x 300 cells: the former pointer matrix needed 30 MB; now a few rows.
  std::mt19937 rng(13);
  const auto target = tokens_of(small_alphabet_melody(rng, 300));
  std::vector<Token> query;
  for (int r = 0; r < 200; ++r) {
    const auto filler = tokens_of(small_alphabet_melody(rng, 500));
    query.insert(query.end(), filler.begin(), filler.end());
  }
  const std::size_t at = 73457;
  std::copy(target.begin() + 1, target.end(), query.begin() + static_cast<long>(at));
  const auto a = mp::align(query, target);
  EXPECT_EQ(a.target_end, target.size());
  EXPECT_EQ(a.query_end, at + target.size() - 1);
  EXPECT_GE(a.pairs, target.size() - 1);
}

TEST(LinearMatchingStatistics, SameAsTheFormerNarrowingOnRandomCorpora) {
  std::mt19937 rng(21);
  for (int corpus_rep = 0; corpus_rep < 4; ++corpus_rep) {
    std::vector<SymbolMelody> corpus;
    for (int i = 0; i < 12; ++i) corpus.push_back(small_alphabet_melody(rng, 10 + 7 * i));
    corpus.push_back(SymbolMelody{});  // an empty melody: only a separator
    const mp::CorpusIndex index(corpus);
    const ReferenceIndex ref(index);
    for (int rep = 0; rep < 25; ++rep) {
      std::vector<Token> q = tokens_of(small_alphabet_melody(rng, 1 + 5 * rep));
      if (rep % 3 == 1) {  // with a copy of corpus material in the middle
        const auto& src = index.melody(static_cast<std::size_t>(rep % 12)).tokens;
        q.insert(q.begin() + static_cast<long>(q.size() / 2), src.begin(), src.end());
      }
      if (rep % 5 == 2) q[0] = mp::make_token(3, 1, mp::kNoRest);  // a known first interval
      check_statistics(index, ref, q, "random query");
    }
    check_statistics(index, ref, {}, "empty query");
    check_statistics(index, ref, index.melody(3).tokens, "a corpus melody");
    // Separators in a query (not from tokenize, but the API takes any tokens).
    std::vector<Token> with_sep = index.melody(2).tokens;
    with_sep.push_back(mp::kSeparator);
    with_sep.insert(with_sep.end(), index.melody(3).tokens.begin(), index.melody(3).tokens.end());
    check_statistics(index, ref, with_sep, "separator in the query");
  }
}

TEST(LinearMatchingStatistics, SameAsTheFormerNarrowingOnRepeats) {
  // One token repeated: every suffix shares long prefixes, the former worst case.
  const Token a = mp::make_token(2, 4, mp::kNoRest), b = mp::make_token(2, 5, mp::kNoRest);
  const Token first = mp::make_token(mp::kNoInterval, 7, mp::kNoRest);
  std::vector<mp::TokenizedMelody> corpus(3);
  corpus[0].tokens.assign(300, a);
  corpus[1].tokens.assign(120, a);
  corpus[1].tokens.insert(corpus[1].tokens.begin() + 60, b);
  corpus[2].tokens = {first, a, a, a, b, a};
  for (auto& m : corpus) m.step_of_token.resize(m.tokens.size());
  const mp::CorpusIndex index(corpus);
  const ReferenceIndex ref(index);
  std::vector<Token> q(500, a);
  check_statistics(index, ref, q, "all a");
  q[0] = first;  // unknown first interval, duration 7: only corpus[2] starts so
  check_statistics(index, ref, q, "unknown first, long run");
  q[0] = mp::make_token(mp::kNoInterval, 4, mp::kNoRest);  // matches any 'a'
  check_statistics(index, ref, q, "unknown first matching a");
  q[250] = b;
  check_statistics(index, ref, q, "a b in the middle");
}

TEST(LinearMatchingStatistics, LongCopyOfACorpusMelodyIsFoundEverywhere) {
  // 200k tokens copied from the corpus: every suffix of the query occurs whole. The former
  // narrowing re-read the rest of the query at every position (2 * 10^10 steps).
  std::mt19937 rng(22);
  std::vector<SymbolMelody> corpus;
  for (int i = 0; i < 5; ++i) corpus.push_back(small_alphabet_melody(rng, 300));
  SymbolMelody big;
  std::uniform_int_distribution<int> iv(-12, 12), dur(0, 31);
  for (int i = 0; i < 200000; ++i) big.steps.push_back(Step{false, i ? iv(rng) : 0, dur(rng)});
  corpus.push_back(big);
  const mp::CorpusIndex index(corpus);
  auto q = index.melody(5).tokens;
  q[0] = mp::make_token(4, mp::token_duration(q[0]), mp::token_rest(q[0]));  // a known interval
  std::vector<std::size_t> len, pos;
  index.matching_statistics(q, len, pos);
  std::size_t offset = 0;
  for (int i = 0; i < 5; ++i) offset += index.melody(static_cast<std::size_t>(i)).tokens.size() + 1;
  for (std::size_t i = 1; i < q.size(); i += 997) {
    ASSERT_EQ(len[i], q.size() - i) << i;
    ASSERT_EQ(pos[i], offset + i) << i;
  }
  const auto nv = index.novelty(q);
  EXPECT_EQ(nv.longest_copy.length, q.size() - 1);
  EXPECT_EQ(nv.longest_copy.corpus_index, 5u);
  EXPECT_EQ(nv.longest_copy.corpus_begin, 1u);
}
