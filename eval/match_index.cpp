// eval/match_index.cpp: the corpus index's text and suffix array, and the exact-copy
// statistics over it (matching statistics, longest copy, n-gram overlap). Part of
// melodl_eval; docs/evaluation.md. Tests: tests/eval/match_test.cpp.
#include <algorithm>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "base/error.h"
#include "eval/match.h"
#include "eval/match_detail.h"

namespace melodl::eval {

using detail::interval_field;
using detail::kIntervalNone;
using detail::tokens_identical;

CorpusIndex::~CorpusIndex() = default;
CorpusIndex::CorpusIndex(const CorpusIndex&) = default;
CorpusIndex::CorpusIndex(CorpusIndex&&) noexcept = default;
CorpusIndex& CorpusIndex::operator=(const CorpusIndex&) = default;
CorpusIndex& CorpusIndex::operator=(CorpusIndex&&) noexcept = default;

CorpusIndex::CorpusIndex(const std::vector<encode::SymbolMelody>& melodies) {
  melodies_.reserve(melodies.size());
  for (const auto& m : melodies) melodies_.push_back(tokenize(m));
  build();
}

CorpusIndex::CorpusIndex(std::vector<TokenizedMelody> melodies) : melodies_(std::move(melodies)) {
  build();
}

namespace {
// Suffix array by prefix doubling with counting sorts, O(n log n).
std::vector<std::uint32_t> suffix_array(const std::vector<Token>& s) {
  const std::size_t n = s.size();
  std::vector<std::uint32_t> sa(n), rank(n), tmp(n);
  if (n == 0) return sa;
  std::vector<std::uint32_t> cnt(std::max<std::size_t>(65536, n) + 1, 0);
  for (Token c : s) ++cnt[c];
  for (std::size_t c = 1; c < 65536; ++c) cnt[c] += cnt[c - 1];
  for (std::size_t i = n; i-- > 0;) sa[--cnt[s[i]]] = static_cast<std::uint32_t>(i);
  std::uint32_t classes = 1;
  rank[sa[0]] = 0;
  for (std::size_t x = 1; x < n; ++x) {
    if (s[sa[x]] != s[sa[x - 1]]) ++classes;
    rank[sa[x]] = classes - 1;
  }
  for (std::size_t k = 1; classes < n; k <<= 1) {
    // Order by the second key (rank at i + k; past the end sorts first)...
    std::size_t p = 0;
    for (std::size_t i = n - std::min(k, n); i < n; ++i) tmp[p++] = static_cast<std::uint32_t>(i);
    for (std::size_t x = 0; x < n; ++x)
      if (sa[x] >= k) tmp[p++] = static_cast<std::uint32_t>(sa[x] - k);
    // ...then stably by the first key.
    std::fill(cnt.begin(), cnt.begin() + classes + 1, 0);
    for (std::size_t i = 0; i < n; ++i) ++cnt[rank[i]];
    for (std::size_t c = 1; c < classes; ++c) cnt[c] += cnt[c - 1];
    for (std::size_t x = n; x-- > 0;) sa[--cnt[rank[tmp[x]]]] = tmp[x];
    auto second = [&](std::uint32_t i) -> long long { return i + k < n ? rank[i + k] : -1; };
    tmp[sa[0]] = 0;
    classes = 1;
    for (std::size_t x = 1; x < n; ++x) {
      const std::uint32_t a = sa[x - 1], b = sa[x];
      if (rank[a] != rank[b] || second(a) != second(b)) ++classes;
      tmp[b] = classes - 1;
    }
    std::swap(rank, tmp);
  }
  return sa;
}
}  // namespace

void CorpusIndex::build() {
  text_.clear();
  offsets_.clear();
  for (const auto& m : melodies_) {
    offsets_.push_back(text_.size());
    text_.insert(text_.end(), m.tokens.begin(), m.tokens.end());
    text_.push_back(kSeparator);
  }
  if (text_.size() >= std::numeric_limits<std::uint32_t>::max())
    throw InvalidArgument("[CorpusIndex] corpus too large (more than 2^32 tokens)");
  sa_ = suffix_array(text_);
  present_.assign(65536, false);
  for (Token t : text_) present_[t] = true;
  build_lcp();
  build_batches();
}

// ---- exact copies ------------------------------------------------------------------------
// Kasai's LCP array (lcp[x] = longest common prefix of suffixes sa[x-1] and sa[x], 0 at
// x = 0) straight into the leaves of a min tree, and the inverse suffix array.
void CorpusIndex::build_lcp() {
  const std::size_t n = text_.size();
  rank_.assign(n, 0);
  for (std::size_t x = 0; x < n; ++x) rank_[sa_[x]] = static_cast<std::uint32_t>(x);
  lcp_leaves_ = 2;
  while (lcp_leaves_ < n) lcp_leaves_ *= 2;
  lcp_tree_.assign(2 * lcp_leaves_, 0);  // pad leaves 0: "differs at once", a range end
  std::size_t h = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (rank_[i] == 0) {
      h = 0;
      continue;
    }
    const std::size_t j = sa_[rank_[i] - 1];
    while (i + h < n && j + h < n && text_[i + h] == text_[j + h]) ++h;
    lcp_tree_[lcp_leaves_ + rank_[i]] = static_cast<std::uint32_t>(h);
    if (h > 0) --h;
  }
  for (std::size_t v = lcp_leaves_; v-- > 1;)
    lcp_tree_[v] = std::min(lcp_tree_[2 * v], lcp_tree_[2 * v + 1]);
}

std::pair<std::size_t, std::size_t> CorpusIndex::widen(std::size_t x, std::size_t d) const {
  // lo: the last position <= x whose lcp is below d (lcp[0] = 0, so there is one); hi: the
  // first position > x whose lcp is below d, else n. Up the tree to the nearest sibling
  // holding such a leaf, then down to the leaf nearest x.
  const std::size_t n = text_.size(), leaves = lcp_leaves_;
  const auto below = [&](std::size_t v) { return lcp_tree_[v] < d; };
  std::size_t v = leaves + x;
  if (!below(v)) {
    while (!((v & 1) && below(v - 1))) v >>= 1;  // stops at the latest at leaf 0's branch
    --v;
    while (v < leaves) v = below(2 * v + 1) ? 2 * v + 1 : 2 * v;
  }
  const std::size_t lo = v - leaves;
  v = leaves + x;
  while (v > 1 && !(!(v & 1) && below(v + 1))) v >>= 1;
  std::size_t hi = n;
  if (v > 1) {
    ++v;
    while (v < leaves) v = below(2 * v) ? 2 * v : 2 * v + 1;
    hi = std::min(n, v - leaves);
  }
  return {lo, hi};
}

bool CorpusIndex::narrow_step(std::size_t k, Token token, std::size_t& lo, std::size_t& hi) const {
  // Suffixes in [lo, hi) share their first k tokens, so they are sorted by the token at
  // offset k (a suffix that ends there sorts first): two binary searches.
  const std::size_t n = text_.size();
  const long long c = token;
  auto sym = [&](std::size_t x) -> long long {
    const std::size_t p = sa_[x] + k;
    return p < n ? text_[p] : -1;
  };
  std::size_t a = lo, b = hi;
  while (a < b) {  // first with sym >= c
    const std::size_t mid = a + (b - a) / 2;
    if (sym(mid) < c)
      a = mid + 1;
    else
      b = mid;
  }
  const std::size_t c_lo = a;
  b = hi;
  while (a < b) {  // first with sym > c
    const std::size_t mid = a + (b - a) / 2;
    if (sym(mid) <= c)
      a = mid + 1;
    else
      b = mid;
  }
  if (c_lo == a) return false;
  lo = c_lo, hi = a;
  return true;
}

std::size_t CorpusIndex::narrow(const std::vector<Token>& query, std::size_t start,
                                std::vector<std::pair<std::size_t, std::size_t>>* ranges) const {
  // Narrow the suffix-array range [lo, hi) one query token at a time; ranges[k-1]: the
  // range matching k tokens.
  std::size_t lo = 0, hi = text_.size(), k = 0;
  if (ranges) ranges->clear();
  while (start + k < query.size() && lo < hi && narrow_step(k, query[start + k], lo, hi)) {
    ++k;
    if (ranges) ranges->emplace_back(lo, hi);
  }
  return k;
}

void CorpusIndex::matching_statistics(const std::vector<Token>& query,
                                      std::vector<std::size_t>& length,
                                      std::vector<std::size_t>& text_pos) const {
  const std::size_t m = query.size(), n = text_.size();
  length.assign(m, 0);
  text_pos.assign(m, 0);
  const bool unknown_first = m > 0 && interval_field(query[0]) == kIntervalNone;
  // Left to right with a suffix link: when query[i, i+k) occurs at text position p,
  // query[i+1, i+k) occurs at p+1, and the suffixes sharing those k-1 tokens with it form
  // the range around its rank where the LCP stays >= k-1. Narrowing goes on from there,
  // so k grows by at most m in all: O(m log n) instead of O(m * match length * log n).
  std::size_t lo = 0, hi = n, k = 0;  // the range of query[i, i+k)
  std::size_t lo_pos = n;             // sa_[lo] when known without a look-up, else n
  for (std::size_t i = unknown_first ? 1 : 0; i < m; ++i) {
    const std::size_t lo_before = lo;
    while (i + k < m && lo < hi && narrow_step(k, query[i + k], lo, hi)) ++k;
    if (lo != lo_before) lo_pos = n;
    length[i] = k;
    if (k == 0) continue;
    const std::size_t p = lo_pos < n ? lo_pos : sa_[lo];
    text_pos[i] = p;
    if (k == 1) {
      lo = 0, hi = n, k = 0, lo_pos = n;
    } else {
      const std::size_t x = rank_[p + 1];  // walks rank_ in order along a long copy
      std::tie(lo, hi) = widen(x, k - 1);
      lo_pos = lo == x ? p + 1 : n;
      --k;
    }
  }
  if (!unknown_first) return;
  // The first note's interval is unknown: it matches a corpus token of any interval
  // with the same duration and rest. Extend the matches of query[1..] one token to the
  // left: the deepest range of query[1..] holding a suffix whose token before matches.
  bool any = false;
  for (int v = 0; v <= kIntervalNone && !any; ++v)
    any = present_[static_cast<std::size_t>((v << 11) | (query[0] & 0x7FF))];
  if (!any) return;
  length[0] = 1;
  for (std::size_t p = 0; p < n; ++p)
    if (tokens_identical(text_[p], query[0]) && text_[p] != kSeparator) {
      text_pos[0] = p;
      break;
    }
  if (m < 2) return;
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  narrow(query, 1, &ranges);
  // The first suffix (in suffix-array order) of ranges[k] whose token before matches, or n.
  const auto first_extension = [&](std::size_t k) {
    for (std::size_t x = ranges[k].first; x < ranges[k].second; ++x) {
      const std::size_t p = sa_[x];
      if (p > 0 && text_[p - 1] != kSeparator && tokens_identical(text_[p - 1], query[0]))
        return p - 1;
    }
    return n;
  };
  // The ranges nest (deeper ones are inside), so "has an extension" holds for the
  // shallowest ones up to some depth: binary search for it.
  std::size_t a = 0, b = ranges.size();  // ranges[k] has one for k < a, none for k >= b
  while (a < b) {
    const std::size_t mid = a + (b - a) / 2;
    if (first_extension(mid) < n)
      a = mid + 1;
    else
      b = mid;
  }
  if (a == 0) return;
  length[0] = a + 1;
  text_pos[0] = first_extension(a - 1);
}

Novelty CorpusIndex::novelty(const std::vector<Token>& query) const {
  Novelty nv;
  std::vector<std::size_t> len, pos;
  matching_statistics(query, len, pos);
  for (std::size_t i = 0; i < query.size(); ++i) {
    if (len[i] > nv.longest_copy.length) {
      nv.longest_copy.length = len[i];
      nv.longest_copy.query_begin = i;
      const std::size_t mel =
          static_cast<std::size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), pos[i]) -
                                   offsets_.begin()) -
          1;
      nv.longest_copy.corpus_index = mel;
      nv.longest_copy.corpus_begin = pos[i] - offsets_[mel];
    }
  }
  for (int n = kMinNgram; n <= kMaxNgram; ++n) {
    NgramOverlap& o = nv.overlap[n - kMinNgram];
    o.n = n;
    const std::size_t un = static_cast<std::size_t>(n);
    if (query.size() < un) continue;
    o.total = query.size() - un + 1;
    for (std::size_t i = 0; i < o.total; ++i)
      if (len[i] >= un) ++o.found;
  }
  return nv;
}

}  // namespace melodl::eval
