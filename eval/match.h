// eval/match.h: novelty checks of generated melodies against a training
// corpus. Melodies become NOTE TOKENS (interval, duration, rest before the note); each
// generated melody is aligned against every corpus melody by local alignment
// (Smith-Waterman with affine gaps, an int16 SIMD kernel over 16 corpus melodies at a
// time, exact: no prefilter), and exact-copy statistics (longest common substring,
// n-gram overlap) come from a suffix array over the corpus tokens.
// Part of melodl_eval (eval/), used by `melodl match`; scoring and
// metrics are documented in docs/evaluation.md. Tests: tests/eval/match_test.cpp.
//
// Example:
//   eval::CorpusIndex corpus(training_melodies);   // std::vector<SymbolMelody>
//   auto reports = eval::match_melodies(corpus, generated, {});
//   for (const auto& r : reports) print(r.candidates[0].corpus_index,
//   r.candidates[0].alignment.identity);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "encode/melody.h"

namespace melodl::eval {

// ---- note tokens -------------------------------------------------------------------
// One token per note: its interval from the previous note (kNoInterval for the first
// note of a melody, whose interval is not encoded), its duration index, and the total
// duration index of the rests just before it (kNoRest when the note follows the
// previous one directly; summed rests are capped at 31). Rests after the last note
// are dropped. Packed into 16 bits; kSeparator never occurs as a token.
using Token = std::uint16_t;
inline constexpr int kNoInterval = 13;  // stored interval field value 25
inline constexpr int kNoRest = -1;
inline constexpr Token kSeparator = 0xFFFF;

Token make_token(int interval, int duration, int rest);
int token_interval(Token t);  // -12..12, or kNoInterval
int token_duration(Token t);  // 0..31
int token_rest(Token t);      // 0..31, or kNoRest

// Duration similarity class, half-octave bins on a log scale: 0 for index 0, else
// 1 + round(2 * log2(k)); 8 and 9 share class 7, 8 and 12 (a dotted value) do not.
int duration_class(int duration);

struct TokenizedMelody {
  std::vector<Token> tokens;
  std::vector<std::size_t> step_of_token;  // index in SymbolMelody::steps of each note
};
TokenizedMelody tokenize(const encode::SymbolMelody& melody);

// ---- alignment ---------------------------------------------------------------------
// Scores of one aligned pair of tokens: the sum of an interval term, a duration term
// and a rest term. A gap of length L scores -(gap_open + L * gap_extend).
struct AlignmentScoring {
  int interval_same = 2;  // an unknown (first-note) interval counts as the same
  int interval_diff = -3;
  int duration_same = 2;
  int duration_near = 0;  // different index, same duration_class
  int duration_diff = -1;
  int rest_same = 0;
  int rest_diff = -1;
  int gap_open = 4;
  int gap_extend = 1;
  int pair_score(Token a, Token b) const;
  int max_pair_score() const;  // score of two identical tokens
  // Throws InvalidArgument when the scores are not a sensible local-alignment
  // scheme (identical pairs must score > 0, gaps must cost > 0, |values| <= 100).
  void validate() const;
};

struct Alignment {
  int score = 0;
  // Half-open token (= note) ranges [begin, end) on the query (generated) and target
  // (corpus) sides. Empty when score is 0.
  std::size_t query_begin = 0, query_end = 0;
  std::size_t target_begin = 0, target_end = 0;
  std::size_t columns = 0;    // aligned pairs + gap positions
  std::size_t identical = 0;  // pairs of identical tokens (first-note interval wildcard)
  std::size_t pairs = 0;      // aligned pairs (identical or substituted)
  double identity = 0.0;      // 100 * identical / columns, 0 when columns == 0
  std::size_t query_length() const { return query_end - query_begin; }
  std::size_t target_length() const { return target_end - target_begin; }
};

// Exact local alignment with its positions and counts (scalar, one pass, memory linear
// in target.size()). The reference for the SIMD kernel and the source of positions.
// Throws InvalidArgument when the two hold 2^32 - 1 tokens or more together.
Alignment align(const std::vector<Token>& query, const std::vector<Token>& target,
                const AlignmentScoring& scoring = {});

// ---- exact copies ------------------------------------------------------------------
struct ExactCopy {
  std::size_t length = 0;        // longest common substring, in tokens (notes)
  std::size_t query_begin = 0;   // where it starts in the generated melody
  std::size_t corpus_index = 0;  // one corpus melody containing it (when length > 0)
  std::size_t corpus_begin = 0;  // where it starts there
};

inline constexpr int kMinNgram = 4;
inline constexpr int kMaxNgram = 8;
struct NgramOverlap {
  int n = 0;
  std::size_t total = 0;  // token n-grams in the generated melody
  std::size_t found = 0;  // of those, occurring somewhere in the corpus
  double fraction() const { return total ? static_cast<double>(found) / total : 0.0; }
};

struct Novelty {
  ExactCopy longest_copy;
  std::array<NgramOverlap, kMaxNgram - kMinNgram + 1> overlap{};  // n = 4..8
};

// ---- the corpus index and the whole report ------------------------------------------
class CorpusIndex {
 public:
  explicit CorpusIndex(const std::vector<encode::SymbolMelody>& melodies);
  explicit CorpusIndex(std::vector<TokenizedMelody> melodies);
  ~CorpusIndex();
  CorpusIndex(const CorpusIndex&);
  CorpusIndex(CorpusIndex&&) noexcept;
  CorpusIndex& operator=(const CorpusIndex&);
  CorpusIndex& operator=(CorpusIndex&&) noexcept;

  std::size_t size() const { return melodies_.size(); }
  std::size_t total_tokens() const { return text_.size() - melodies_.size(); }
  const TokenizedMelody& melody(std::size_t i) const { return melodies_[i]; }

  // Best local-alignment score of `query` against every corpus melody, in corpus
  // order (SIMD kernel, exact). threads = 0: std::thread::hardware_concurrency().
  // The kernel uses AVX2 when the CPU has it (environment MELODL_NO_AVX2 set: never).
  std::vector<int> scores(const std::vector<Token>& query, const AlignmentScoring& scoring,
                          unsigned threads = 0) const;
  // Longest exact copy and n-gram overlap of `query` against the whole corpus.
  Novelty novelty(const std::vector<Token>& query) const;
  // Matching statistics: for each query position i, the length of the longest prefix
  // of query[i..] that occurs in the corpus, and one corpus text position where it does
  // (text = every melody's tokens followed by kSeparator). A first-note token (unknown
  // interval) at query[0] matches a corpus token of any interval; a corpus melody's
  // own first-note token only matches such a query token.
  void matching_statistics(const std::vector<Token>& query, std::vector<std::size_t>& length,
                           std::vector<std::size_t>& text_pos) const;

 private:
  struct Batch;

 public:
  // One batch's transposed fields ([length][16] int16 each), for the kernel.
  struct BatchView {
    const std::int16_t *ivl, *dur, *cls, *rest, *valid;
    std::size_t length;
  };

 private:
  void build();          // text, suffix array (match_index.cpp), then the batches
  void build_batches();  // the SIMD layout (match_kernel.cpp)
  std::vector<TokenizedMelody> melodies_;
  // Suffix array over text_ = melody tokens each followed by kSeparator.
  std::vector<Token> text_;
  std::vector<std::size_t> offsets_;  // text position of each melody's first token
  std::vector<std::uint32_t> sa_;
  std::vector<std::uint32_t> rank_;      // inverse of sa_
  std::vector<std::uint32_t> lcp_tree_;  // min tree over the LCP array (leaves from lcp_leaves_)
  std::size_t lcp_leaves_ = 0;
  std::vector<bool> present_;  // [65536]: token occurs in the corpus
  void build_lcp();
  // The suffix-array range of the suffixes that share their first d >= 1 tokens with the
  // suffix of rank x.
  std::pair<std::size_t, std::size_t> widen(std::size_t x, std::size_t d) const;
  // [lo, hi) (suffixes sharing k tokens) narrowed to those whose token at offset k is
  // `token`; false (range kept) when there is none.
  bool narrow_step(std::size_t k, Token token, std::size_t& lo, std::size_t& hi) const;
  // Longest prefix of query[start..] in the corpus; ranges[k-1] = SA range for k tokens.
  std::size_t narrow(const std::vector<Token>& query, std::size_t start,
                     std::vector<std::pair<std::size_t, std::size_t>>* ranges) const;
  // SIMD layout: corpus melodies sorted by length, 16 per batch, transposed.
  std::vector<Batch> batches_;
};

struct MatchOptions {
  AlignmentScoring scoring;
  std::size_t top = 1;   // candidates reported per generated melody
  unsigned threads = 0;  // 0: hardware concurrency
};

struct MatchCandidate {
  std::size_t corpus_index = 0;
  Alignment alignment;
  double score_fraction = 0.0;  // score / (max_pair_score * generated length)
};

struct MatchReport {
  std::size_t tokens = 0;                  // notes in the generated melody
  std::vector<MatchCandidate> candidates;  // best first (score, then corpus order)
  Novelty novelty;
};

std::vector<MatchReport> match_melodies(const CorpusIndex& corpus,
                                        const std::vector<encode::SymbolMelody>& generated,
                                        const MatchOptions& options = {});

// The steps of `melody` covering tokens [token_begin, token_end), as a melody of its
// own (leading rests dropped, the first note's interval kept but ignored as usual).
encode::SymbolMelody excerpt(const encode::SymbolMelody& melody, const TokenizedMelody& tokens,
                             std::size_t token_begin, std::size_t token_end);

}  // namespace melodl::eval
