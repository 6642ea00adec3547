// tests/eval/match_test.cpp: note tokens, local alignment (scalar traceback and the
// SIMD kernel against it), exact-copy statistics and whole match reports
// (eval/match.h). Melodies are built by hand; no encode implementation
// beyond the SymbolMelody type is needed. Run: <build>/tests/eval/eval_test
#include "eval/match.h"
#include "base/error.h"

#include <gtest/gtest.h>

#include <random>

namespace mp = melodl::eval;
using melodl::encode::Step;
using melodl::encode::SymbolMelody;

namespace {

// A melody of notes (interval, duration); the first interval is ignored as usual.
SymbolMelody notes(const std::vector<std::pair<int, int>>& ns) {
  SymbolMelody m;
  for (auto [iv, d] : ns) m.steps.push_back(Step{false, iv, d});
  return m;
}

SymbolMelody random_melody(std::mt19937& rng, std::size_t n, int max_iv = 7) {
  std::uniform_int_distribution<int> iv(-max_iv, max_iv), dur(1, 16), coin(0, 9);
  SymbolMelody m;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && coin(rng) == 0) m.steps.push_back(Step{true, 0, dur(rng)});
    m.steps.push_back(Step{false, i == 0 ? 0 : iv(rng), dur(rng)});
  }
  return m;
}

std::vector<melodl::eval::Token> random_tokens(std::mt19937& rng, std::size_t n) {
  return melodl::eval::tokenize(random_melody(rng, n)).tokens;
}

SymbolMelody concat(const SymbolMelody& a, const SymbolMelody& b) {
  SymbolMelody m = a;
  m.steps.insert(m.steps.end(), b.steps.begin(), b.steps.end());
  return m;
}

}  // namespace

TEST(Tokens, PackAndUnpackEveryField) {
  for (int iv = -12; iv <= 13; ++iv)
    for (int d = 0; d < 32; ++d)
      for (int r = -1; r < 32; ++r) {
        const melodl::eval::Token t = melodl::eval::make_token(iv, d, r);
        ASSERT_NE(t, melodl::eval::kSeparator);
        EXPECT_EQ(melodl::eval::token_interval(t), iv);
        EXPECT_EQ(melodl::eval::token_duration(t), d);
        EXPECT_EQ(melodl::eval::token_rest(t), r);
      }
  EXPECT_THROW(melodl::eval::make_token(14, 0, -1), melodl::InvalidArgument);
  EXPECT_THROW(melodl::eval::make_token(0, 32, -1), melodl::InvalidArgument);
  EXPECT_THROW(melodl::eval::make_token(0, 0, 32), melodl::InvalidArgument);
}

TEST(Tokens, RestsFoldIntoTheFollowingNote) {
  SymbolMelody m;
  m.steps = {{true, 0, 3},  {false, 5, 8},  {true, 0, 4}, {true, 0, 2},
             {false, 2, 8}, {false, -1, 4}, {true, 0, 6}};
  const auto t = melodl::eval::tokenize(m);
  ASSERT_EQ(t.tokens.size(), 3u);
  EXPECT_EQ(t.tokens[0], melodl::eval::make_token(melodl::eval::kNoInterval, 8,
                                                  melodl::eval::kNoRest));  // leading rest dropped
  EXPECT_EQ(t.tokens[1], melodl::eval::make_token(2, 8, 6));                // 4 + 2
  EXPECT_EQ(t.tokens[2],
            melodl::eval::make_token(-1, 4, melodl::eval::kNoRest));  // trailing rest dropped
  EXPECT_EQ(t.step_of_token, (std::vector<std::size_t>{1, 4, 5}));
  // Long rests are capped at the largest index.
  m.steps = {{false, 0, 8}, {true, 0, 20}, {true, 0, 20}, {false, 1, 8}};
  EXPECT_EQ(melodl::eval::token_rest(melodl::eval::tokenize(m).tokens[1]), 31);
}

TEST(Tokens, DurationClassesAreHalfOctaves) {
  EXPECT_EQ(melodl::eval::duration_class(0), 0);
  EXPECT_EQ(melodl::eval::duration_class(1), 1);
  EXPECT_EQ(melodl::eval::duration_class(2), 3);
  EXPECT_EQ(melodl::eval::duration_class(8), melodl::eval::duration_class(9));
  EXPECT_NE(melodl::eval::duration_class(8), melodl::eval::duration_class(12));
  EXPECT_NE(melodl::eval::duration_class(8), melodl::eval::duration_class(6));
  for (int d = 1; d < 31; ++d)
    EXPECT_LE(melodl::eval::duration_class(d), melodl::eval::duration_class(d + 1));
}

TEST(Scoring, PairScoresFollowTheComponents) {
  const melodl::eval::AlignmentScoring sc;
  const auto a = melodl::eval::make_token(2, 8, melodl::eval::kNoRest);
  EXPECT_EQ(sc.pair_score(a, a), sc.max_pair_score());
  EXPECT_EQ(sc.pair_score(a, melodl::eval::make_token(2, 9, melodl::eval::kNoRest)),
            2 + 0 + 0);  // near duration
  EXPECT_EQ(sc.pair_score(a, melodl::eval::make_token(2, 16, melodl::eval::kNoRest)),
            2 - 1 + 0);  // far duration
  EXPECT_EQ(sc.pair_score(a, melodl::eval::make_token(-2, 8, melodl::eval::kNoRest)),
            -3 + 2 + 0);                                                      // interval
  EXPECT_EQ(sc.pair_score(a, melodl::eval::make_token(2, 8, 3)), 2 + 2 - 1);  // rest
  EXPECT_EQ(sc.pair_score(
                a, melodl::eval::make_token(melodl::eval::kNoInterval, 8, melodl::eval::kNoRest)),
            4);  // wildcard
  // Same interval, other duration scores more than other interval, same duration.
  EXPECT_GT(sc.pair_score(a, melodl::eval::make_token(2, 16, melodl::eval::kNoRest)),
            sc.pair_score(a, melodl::eval::make_token(-2, 8, melodl::eval::kNoRest)));
  melodl::eval::AlignmentScoring bad;
  bad.gap_extend = 0;
  EXPECT_THROW(bad.validate(), melodl::InvalidArgument);
}

TEST(Align, EmbeddedCopyIsFoundExactly) {
  std::mt19937 rng(1);
  const SymbolMelody gen = random_melody(rng, 40);
  const SymbolMelody before = random_melody(rng, 25), after = random_melody(rng, 30);
  SymbolMelody corpus_mel = concat(concat(before, gen), after);
  corpus_mel.steps[before.steps.size()].interval = 5;  // a real interval where the copy starts
  const auto q = melodl::eval::tokenize(gen).tokens;
  const auto t = melodl::eval::tokenize(corpus_mel).tokens;
  const std::size_t offset = melodl::eval::tokenize(before).tokens.size();
  const melodl::eval::AlignmentScoring sc;
  const melodl::eval::Alignment a = melodl::eval::align(q, t, sc);
  EXPECT_EQ(a.score, static_cast<int>(q.size()) * sc.max_pair_score());
  EXPECT_EQ(a.query_begin, 0u);
  EXPECT_EQ(a.query_end, q.size());
  EXPECT_EQ(a.target_begin, offset);
  EXPECT_EQ(a.target_end, offset + q.size());
  EXPECT_EQ(a.columns, q.size());
  EXPECT_EQ(a.identical, q.size());
  EXPECT_DOUBLE_EQ(a.identity, 100.0);
}

TEST(Align, MutatedCopyScoresBetweenCopyAndUnrelated) {
  std::mt19937 rng(2);
  const SymbolMelody gen = random_melody(rng, 60);
  SymbolMelody mutated = gen;
  // Change every 5th interval, drop one note and insert two: a variation.
  for (std::size_t i = 5; i < mutated.steps.size(); i += 5)
    if (!mutated.steps[i].rest) mutated.steps[i].interval = (mutated.steps[i].interval + 9) % 12;
  mutated.steps.erase(mutated.steps.begin() + 20);
  mutated.steps.insert(mutated.steps.begin() + 40, 2, Step{false, 1, 3});
  const SymbolMelody unrelated = random_melody(rng, 60);
  const auto q = melodl::eval::tokenize(gen).tokens;
  const melodl::eval::AlignmentScoring sc;
  const auto exact = melodl::eval::align(q, q, sc);
  const auto mut = melodl::eval::align(q, melodl::eval::tokenize(mutated).tokens, sc);
  const auto unrel = melodl::eval::align(q, melodl::eval::tokenize(unrelated).tokens, sc);
  EXPECT_GT(exact.score, mut.score);
  EXPECT_GT(mut.score, unrel.score);
  EXPECT_GT(mut.score, exact.score / 2);
  EXPECT_LT(unrel.score, exact.score / 4);
  EXPECT_LT(mut.identity, 100.0);
  EXPECT_GT(mut.identity, 70.0);
  EXPECT_GT(mut.query_length(), q.size() * 3 / 4);
}

TEST(Align, DisjointVocabulariesScoreAlmostNothing) {
  // Only up-steps of 1-2 and 8ths against only leaps down and 32nds: every pair
  // mismatches but the first-note wildcard.
  std::vector<std::pair<int, int>> a, b;
  for (int i = 0; i < 50; ++i) a.emplace_back(1 + i % 2, 4), b.emplace_back(-5 - i % 3, 1);
  const melodl::eval::AlignmentScoring sc;
  const auto al = melodl::eval::align(melodl::eval::tokenize(notes(a)).tokens,
                                      melodl::eval::tokenize(notes(b)).tokens, sc);
  EXPECT_LE(al.score, sc.interval_same + sc.duration_diff + sc.rest_same);
  EXPECT_LE(al.columns, 1u);
}

TEST(Align, IsSymmetric) {
  std::mt19937 rng(3);
  for (int rep = 0; rep < 20; ++rep) {
    const auto a = random_tokens(rng, 20 + rep * 3), b = random_tokens(rng, 50 - rep);
    const auto ab = melodl::eval::align(a, b), ba = melodl::eval::align(b, a);
    EXPECT_EQ(ab.score, ba.score);  // ties may trace back different paths
  }
  // An embedded copy seen from either side: the ranges swap.
  const auto g = random_tokens(rng, 30);
  auto host = random_tokens(rng, 20);
  host.push_back(melodl::eval::make_token(4, melodl::eval::token_duration(g[0]),
                                          melodl::eval::token_rest(g[0])));
  host.insert(host.end(), g.begin() + 1, g.end());
  const auto more = random_tokens(rng, 10);
  host.insert(host.end(), more.begin(), more.end());
  const auto gh = melodl::eval::align(g, host), hg = melodl::eval::align(host, g);
  EXPECT_EQ(gh.score, hg.score);
  EXPECT_EQ(gh.query_begin, hg.target_begin);
  EXPECT_EQ(gh.query_end, hg.target_end);
  EXPECT_EQ(gh.target_begin, hg.query_begin);
  EXPECT_EQ(gh.target_end, hg.query_end);
  EXPECT_EQ(gh.target_begin, 20u);
  EXPECT_DOUBLE_EQ(hg.identity, 100.0);
  // Identical sequences: the whole diagonal.
  const auto a = random_tokens(rng, 33);
  const auto aa = melodl::eval::align(a, a);
  EXPECT_EQ(aa.query_begin, 0u);
  EXPECT_EQ(aa.target_end, a.size());
  EXPECT_DOUBLE_EQ(aa.identity, 100.0);
}

TEST(Align, AffineGapsCostOpenPlusLength) {
  // query = x + y, target = x + 3 foreign tokens + y: one gap of length 3.
  std::mt19937 rng(4);
  auto x = random_tokens(rng, 15), y = random_tokens(rng, 15);
  y[0] = melodl::eval::make_token(3, 8, melodl::eval::kNoRest);
  auto q = x;
  q.insert(q.end(), y.begin(), y.end());
  auto t = x;
  const melodl::eval::Token foreign = melodl::eval::make_token(12, 31, 31);
  t.insert(t.end(), 3, foreign);
  t.insert(t.end(), y.begin(), y.end());
  const melodl::eval::AlignmentScoring sc;
  const auto a = melodl::eval::align(q, t, sc);
  EXPECT_EQ(a.score, 30 * sc.max_pair_score() - (sc.gap_open + 3 * sc.gap_extend));
  EXPECT_EQ(a.columns, 33u);
  EXPECT_EQ(a.pairs, 30u);
  EXPECT_EQ(a.target_length(), 33u);
  EXPECT_NEAR(a.identity, 100.0 * 30 / 33, 1e-9);
}

TEST(CorpusIndex, SimdScoresEqualTheScalarReference) {
  std::mt19937 rng(5);
  std::vector<SymbolMelody> corpus;
  std::uniform_int_distribution<int> len(0, 90);
  for (int i = 0; i < 53; ++i)
    corpus.push_back(random_melody(rng, static_cast<std::size_t>(len(rng))));
  corpus.push_back(random_melody(rng, 1));
  const melodl::eval::CorpusIndex index(corpus);
  ASSERT_EQ(index.size(), corpus.size());
  melodl::eval::AlignmentScoring other;  // a second scheme with other weights
  other.interval_diff = -2, other.duration_near = 1, other.gap_open = 2, other.gap_extend = 2;
  for (int rep = 0; rep < 6; ++rep) {
    // Queries sharing material with the corpus, and random ones.
    auto q = rep % 2 ? random_tokens(rng, 1 + 20 * rep)
                     : melodl::eval::tokenize(corpus[static_cast<std::size_t>(rep * 7)]).tokens;
    for (const auto& sc : {melodl::eval::AlignmentScoring{}, other}) {
      const auto s1 = index.scores(q, sc, 1), s2 = index.scores(q, sc, 2);
      ASSERT_EQ(s1, s2);
      for (std::size_t i = 0; i < corpus.size(); ++i)
        ASSERT_EQ(s1[i], melodl::eval::align(q, index.melody(i).tokens, sc).score)
            << "corpus " << i;
    }
  }
}

TEST(CorpusIndex, LargeScoresFallBackToInt32) {
  // Pair scores of 100 over 400-note copies exceed int16: the scalar path must agree.
  std::mt19937 rng(6);
  std::vector<SymbolMelody> corpus = {random_melody(rng, 400), random_melody(rng, 390)};
  const melodl::eval::CorpusIndex index(corpus);
  melodl::eval::AlignmentScoring big;
  big.interval_same = 40, big.duration_same = 40, big.rest_same = 20;
  const auto q = index.melody(0).tokens;
  const auto s = index.scores(q, big);
  EXPECT_EQ(s[0], static_cast<int>(q.size()) * 100);
  EXPECT_EQ(s[1], melodl::eval::align(q, index.melody(1).tokens, big).score);
}

TEST(CorpusIndex, LongestExactCopyOnHandCases) {
  // Corpus: two melodies. Query copies 6 notes of the second (from its 3rd note).
  const SymbolMelody c0 = notes({{0, 8}, {2, 8}, {2, 8}, {1, 8}, {2, 8}});
  const SymbolMelody c1 =
      notes({{0, 4}, {5, 4}, {-3, 4}, {4, 2}, {-2, 2}, {7, 16}, {0, 4}, {1, 4}});
  const melodl::eval::CorpusIndex index(std::vector<SymbolMelody>{c0, c1});
  EXPECT_EQ(index.total_tokens(), 13u);
  // Query: [first note] [-3,4] [4,2] [-2,2] [7,16] [0,4] [9,9]
  const SymbolMelody q = notes({{0, 12}, {-3, 4}, {4, 2}, {-2, 2}, {7, 16}, {0, 4}, {9, 9}});
  const auto nv = index.novelty(melodl::eval::tokenize(q).tokens);
  EXPECT_EQ(nv.longest_copy.length, 5u);
  EXPECT_EQ(nv.longest_copy.query_begin, 1u);
  EXPECT_EQ(nv.longest_copy.corpus_index, 1u);
  EXPECT_EQ(nv.longest_copy.corpus_begin, 2u);
  // n = 4: grams at 0..3; the ones at 1 and 2 are in the corpus.
  EXPECT_EQ(nv.overlap[0].n, 4);
  EXPECT_EQ(nv.overlap[0].total, 4u);
  EXPECT_EQ(nv.overlap[0].found, 2u);
  EXPECT_EQ(nv.overlap[1].found, 1u);  // n = 5
  EXPECT_EQ(nv.overlap[2].found, 0u);  // n = 6
  EXPECT_EQ(nv.overlap[4].total, 0u);  // n = 8 > 7 notes
  // The first note's interval is unknown: it matches the corpus note before the copy
  // when duration and rest agree (here [5,4] precedes [-3,4]).
  const SymbolMelody q2 = notes({{0, 4}, {-3, 4}, {4, 2}, {-2, 2}, {9, 9}});
  const auto nv2 = index.novelty(melodl::eval::tokenize(q2).tokens);
  EXPECT_EQ(nv2.longest_copy.length, 4u);
  EXPECT_EQ(nv2.longest_copy.query_begin, 0u);
  EXPECT_EQ(nv2.longest_copy.corpus_index, 1u);
  EXPECT_EQ(nv2.longest_copy.corpus_begin, 1u);
  // No copy crosses from one melody into the next.
  const SymbolMelody q3 = notes({{0, 8}, {1, 8}, {2, 8}, {0, 4}, {5, 4}});
  EXPECT_EQ(index.novelty(melodl::eval::tokenize(q3).tokens).longest_copy.length, 3u);
  // Nothing in common.
  const SymbolMelody q4 = notes({{0, 31}, {11, 31}, {11, 31}});
  EXPECT_EQ(index.novelty(melodl::eval::tokenize(q4).tokens).longest_copy.length, 0u);
}

TEST(CorpusIndex, MatchingStatisticsAgreeWithBruteForce) {
  std::mt19937 rng(7);
  std::vector<SymbolMelody> corpus;
  // A small alphabet so repeats are frequent.
  for (int i = 0; i < 20; ++i) corpus.push_back(random_melody(rng, 30, 1));
  const melodl::eval::CorpusIndex index(corpus);
  for (int rep = 0; rep < 10; ++rep) {
    const auto q = melodl::eval::tokenize(random_melody(rng, 25, 1)).tokens;
    std::vector<std::size_t> len, pos;
    index.matching_statistics(q, len, pos);
    for (std::size_t i = 1; i < q.size(); ++i) {
      std::size_t best = 0;
      for (std::size_t c = 0; c < index.size(); ++c) {
        const auto& t = index.melody(c).tokens;
        for (std::size_t p = 0; p < t.size(); ++p) {
          std::size_t k = 0;
          while (i + k < q.size() && p + k < t.size() && q[i + k] == t[p + k]) ++k;
          best = std::max(best, k);
        }
      }
      ASSERT_EQ(len[i], best) << "rep " << rep << " position " << i;
    }
  }
}

TEST(MatchMelodies, ReportsTheSourceOfAnExcerpt) {
  std::mt19937 rng(8);
  std::vector<SymbolMelody> corpus;
  for (int i = 0; i < 40; ++i) corpus.push_back(random_melody(rng, 120));
  const melodl::eval::CorpusIndex index(corpus);
  const auto& src = index.melody(17);
  // Start at a note with no rest before it (an excerpt drops the leading rest).
  std::size_t begin = 30;
  while (melodl::eval::token_rest(src.tokens[begin]) != melodl::eval::kNoRest) ++begin;
  const SymbolMelody gen = melodl::eval::excerpt(corpus[17], src, begin, begin + 50);
  ASSERT_FALSE(gen.steps.empty());
  const SymbolMelody noise = random_melody(rng, 50);
  melodl::eval::MatchOptions opt;
  opt.top = 3;
  const auto reports = melodl::eval::match_melodies(index, {gen, noise}, opt);
  ASSERT_EQ(reports.size(), 2u);
  const auto& r = reports[0];
  EXPECT_EQ(r.tokens, 50u);
  ASSERT_EQ(r.candidates.size(), 3u);
  EXPECT_EQ(r.candidates[0].corpus_index, 17u);
  EXPECT_DOUBLE_EQ(r.candidates[0].alignment.identity, 100.0);
  EXPECT_EQ(r.candidates[0].alignment.target_begin, begin);
  EXPECT_EQ(r.candidates[0].alignment.target_end, begin + 50);
  EXPECT_DOUBLE_EQ(r.candidates[0].score_fraction, 1.0);
  EXPECT_GE(r.candidates[0].alignment.score, r.candidates[1].alignment.score);
  EXPECT_GE(r.candidates[1].alignment.score, r.candidates[2].alignment.score);
  EXPECT_EQ(r.novelty.longest_copy.length, 50u);
  EXPECT_EQ(r.novelty.longest_copy.corpus_index, 17u);
  EXPECT_EQ(r.novelty.longest_copy.corpus_begin, begin);
  for (const auto& o : r.novelty.overlap) EXPECT_DOUBLE_EQ(o.fraction(), 1.0);
  // The random melody is far from everything.
  EXPECT_LT(reports[1].candidates[0].score_fraction, 0.5);
  EXPECT_LT(reports[1].novelty.longest_copy.length, 6u);
  EXPECT_LT(reports[1].novelty.overlap[4].fraction(), 0.1);
}

TEST(MatchMelodies, EmptyInputsGiveEmptyReports) {
  const melodl::eval::CorpusIndex empty(std::vector<SymbolMelody>{});
  const auto r = melodl::eval::match_melodies(empty, {notes({{0, 8}, {1, 8}})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].candidates.empty());
  EXPECT_EQ(r[0].novelty.longest_copy.length, 0u);
  const melodl::eval::CorpusIndex one(std::vector<SymbolMelody>{notes({{0, 8}, {1, 8}})});
  const auto r2 = melodl::eval::match_melodies(one, {SymbolMelody{}});
  ASSERT_EQ(r2[0].candidates.size(), 1u);
  EXPECT_EQ(r2[0].candidates[0].alignment.score, 0);
  EXPECT_EQ(r2[0].tokens, 0u);
}

// Alignment work is bounded per generated melody (MatchOptions::max_cells): a melody whose
// notes x the corpus's notes exceed it is refused before any alignment, with an error
// naming the melody, its cells, the limit and what to do; at the limit it is matched.
TEST(MatchMelodies, AlignmentWorkOverTheLimitIsRefusedUpFront) {
  std::mt19937 rng(14);
  std::vector<SymbolMelody> corpus;
  for (int i = 0; i < 4; ++i) corpus.push_back(random_melody(rng, 50));
  const melodl::eval::CorpusIndex index(corpus);
  const std::size_t corpus_notes = index.total_tokens();
  ASSERT_EQ(corpus_notes, 200u);
  const SymbolMelody small = random_melody(rng, 10), big = random_melody(rng, 101);
  melodl::eval::MatchOptions opt;
  opt.max_cells = 100 * corpus_notes;  // 100 notes allowed
  EXPECT_EQ(melodl::eval::match_melodies(index, {small, random_melody(rng, 100)}, opt).size(), 2u);
  try {
    melodl::eval::match_melodies(index, {small, big}, opt);
    FAIL() << "a 101-note melody passed a 100-note limit";
  } catch (const melodl::InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("generated melody 2 has 101 notes"), std::string::npos) << what;
    EXPECT_NE(what.find("2.02e+04 cells, more than the limit of 2e+04"), std::string::npos) << what;
    EXPECT_NE(what.find("MatchOptions::max_cells"), std::string::npos) << what;
    EXPECT_NE(what.find("lines of at most 100 notes"), std::string::npos) << what;
  }
  // The default allows a 1M-symbol line (about 500k notes) against data/bach (52k notes)
  // and refuses a 50 MB one (about 25M notes).
  EXPECT_GE(melodl::eval::kDefaultMaxAlignmentCells, std::size_t{500'000} * 52'000);
  EXPECT_LT(melodl::eval::kDefaultMaxAlignmentCells, std::size_t{25'000'000} * 52'000);
  EXPECT_EQ(melodl::eval::MatchOptions{}.max_cells, melodl::eval::kDefaultMaxAlignmentCells);
}
