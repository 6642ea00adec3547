// eval/match.cpp: note tokens, local alignment (scalar with traceback, and
// an int16 SIMD kernel that scores 16 corpus melodies at once), and the suffix-array
// exact-copy statistics declared in match.h. Part of melodl_eval; the scoring
// scheme and the metrics are explained in docs/evaluation.md.
// Tests: tests/eval/match_test.cpp.
#include "eval/match.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>

#include "base/error.h"

namespace melodl::eval {

// ---- tokens ----------------------------------------------------------------------------
// Layout: interval field (interval + 12, or 25 = unknown) in bits 11..15, duration in
// bits 6..10, rest field (rest + 1, or 0 = none) in bits 0..5. The largest token is
// 25 << 11 | 31 << 6 | 32 = 53216, below kSeparator.
namespace {
constexpr int kIntervalNone = 25;

int interval_field(Token t) { return t >> 11; }
int duration_field(Token t) { return (t >> 6) & 31; }
int rest_field(Token t) { return t & 63; }

bool intervals_match(Token a, Token b) {
  const int ia = interval_field(a), ib = interval_field(b);
  return ia == ib || ia == kIntervalNone || ib == kIntervalNone;
}

bool tokens_identical(Token a, Token b) {
  return intervals_match(a, b) && duration_field(a) == duration_field(b) &&
         rest_field(a) == rest_field(b);
}

// 0 for index 0, else 1 + round(2 log2 k): 1->1, 2->3, 3->4, 4->5, 6->6, 8->7, 12->8, 16->9.
constexpr std::array<int, encode::kDurationLevels> kDurationClass = [] {
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
}  // namespace

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

// ---- scalar alignment with traceback ----------------------------------------------------
namespace {
constexpr int kNegInf = INT_MIN / 4;
enum : std::uint8_t { kFromZero = 0, kFromDiag = 1, kFromE = 2, kFromF = 3 };

// Best local score only, linear memory (fallback when int16 could overflow).
int local_score_scalar(const std::vector<Token>& q, const Token* t, std::size_t n,
                       const AlignmentScoring& sc) {
  const int oe = sc.gap_open + sc.gap_extend, ext = sc.gap_extend;
  std::vector<int> hprev(n + 1, 0), hcur(n + 1, 0), f(n + 1, kNegInf);
  int best = 0;
  for (std::size_t i = 1; i <= q.size(); ++i) {
    int e = kNegInf;
    hcur[0] = 0;
    for (std::size_t j = 1; j <= n; ++j) {
      e = std::max(hcur[j - 1] - oe, e - ext);
      f[j] = std::max(hprev[j] - oe, f[j] - ext);
      const int h = std::max({0, hprev[j - 1] + sc.pair_score(q[i - 1], t[j - 1]), e, f[j]});
      hcur[j] = h;
      best = std::max(best, h);
    }
    std::swap(hprev, hcur);
  }
  return best;
}
}  // namespace

Alignment align(const std::vector<Token>& query, const std::vector<Token>& target,
                const AlignmentScoring& sc) {
  sc.validate();
  Alignment a;
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
  // Traceback from the first best cell (row-major) to the cell where the score was 0.
  std::size_t i = bi, j = bj;
  int state = kFromDiag;  // "in H"
  while (i > 0 && j > 0) {
    const std::uint8_t p = ptr[(i - 1) * n + (j - 1)];
    if (state == kFromDiag) {
      const int src = p & 3;
      if (src == kFromZero) break;
      if (src == kFromDiag) {
        ++a.columns, ++a.pairs;
        if (tokens_identical(query[i - 1], target[j - 1])) ++a.identical;
        --i, --j;
        continue;
      }
      state = src;
    }
    if (state == kFromE) {  // target token j-1 against a gap
      ++a.columns;
      state = (p & 4) ? kFromE : kFromDiag;
      --j;
    } else {  // kFromF: query token i-1 against a gap
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

// ---- SIMD kernel ------------------------------------------------------------------------
// GCC/Clang vector extensions: one corpus melody per int16 lane, 16 lanes per batch.
// On x86-64 with AVX2 (checked at run time) one 32-byte vector holds the 16 lanes;
// otherwise two passes of 16-byte vectors (SSE2 on x86-64, NEON on arm64) do. (GCC
// lowers 32-byte vectors without AVX into scalar code: 10x slower.)
// The vector helpers below pass 32-byte vectors by value; they are always inlined, so
// the AVX calling convention Clang warns about never applies (GCC: -Wno-psabi in
// CMakeLists.txt, as its warning ignores pragmas).
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#endif
namespace {
constexpr int kLanes = 16;
constexpr std::int16_t kPadField = 100;  // never equals a real field value
typedef std::int16_t V8 __attribute__((vector_size(16)));
typedef std::int16_t V16 __attribute__((vector_size(32)));
}  // namespace

struct CorpusIndex::Batch {
  std::size_t length = 0;                   // longest melody in the batch, in tokens
  std::array<std::size_t, kLanes> index{};  // corpus index per lane
  int lanes = 0;                            // lanes in use
  // Token fields, transposed: [length][kLanes]; pad lanes hold kPadField, valid 0.
  std::vector<std::int16_t> ivl, dur, cls, rest, valid;
};

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

  // Batches of 16 melodies of similar length (sorted by length, longest first).
  std::vector<std::size_t> order(melodies_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return melodies_[a].tokens.size() > melodies_[b].tokens.size();
  });
  batches_.clear();
  for (std::size_t start = 0; start < order.size(); start += kLanes) {
    Batch b;
    b.lanes = static_cast<int>(std::min<std::size_t>(kLanes, order.size() - start));
    for (int l = 0; l < b.lanes; ++l) {
      b.index[l] = order[start + l];
      b.length = std::max(b.length, melodies_[b.index[l]].tokens.size());
    }
    for (auto* field : {&b.ivl, &b.dur, &b.cls, &b.rest, &b.valid})
      field->assign(b.length * kLanes, 0);
    for (std::size_t j = 0; j < b.length; ++j) {
      for (int l = 0; l < kLanes; ++l) {
        const std::size_t at = j * kLanes + static_cast<std::size_t>(l);
        const bool real = l < b.lanes && j < melodies_[b.index[l]].tokens.size();
        if (real) {
          const Token t = melodies_[b.index[l]].tokens[j];
          b.ivl[at] = static_cast<std::int16_t>(interval_field(t));
          b.dur[at] = static_cast<std::int16_t>(duration_field(t));
          b.cls[at] = static_cast<std::int16_t>(kDurationClass[duration_field(t)]);
          b.rest[at] = static_cast<std::int16_t>(rest_field(t));
          b.valid[at] = -1;
        } else {
          b.ivl[at] = b.dur[at] = b.cls[at] = b.rest[at] = kPadField;
          b.valid[at] = 0;
        }
      }
    }
    batches_.push_back(std::move(b));
  }
}

namespace {
struct QueryFields {
  std::vector<std::int16_t> ivl, dur, cls, rest;
  std::vector<std::int16_t> any;  // -1 where the interval is unknown (matches any)
  explicit QueryFields(const std::vector<Token>& q) {
    for (Token t : q) {
      any.push_back(interval_field(t) == kIntervalNone ? -1 : 0);
      ivl.push_back(static_cast<std::int16_t>(interval_field(t)));
      dur.push_back(static_cast<std::int16_t>(duration_field(t)));
      cls.push_back(static_cast<std::int16_t>(kDurationClass[duration_field(t)]));
      rest.push_back(static_cast<std::int16_t>(rest_field(t)));
    }
  }
};

template <typename V>
[[gnu::always_inline]] inline V load(const std::int16_t* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename V>
[[gnu::always_inline]] inline void store(std::int16_t* p, V v) {
  std::memcpy(p, &v, sizeof v);
}
template <typename V>
[[gnu::always_inline]] inline V splat(int x) {
  V r = {};
  return r + static_cast<std::int16_t>(x);
}
template <typename V>
[[gnu::always_inline]] inline V vmax(V a, V b) {
  return a > b ? a : b;
}

// Best local score of lanes [lane0, lane0 + lanes of V) of one batch. Columns j walk
// the corpus melodies (shared by the lanes), rows i the query; h and e hold column j-1
// per row. Pad cells (past a melody's end) only feed cells further right, so masking
// them out of the maximum is enough.
template <typename V>
[[gnu::always_inline]] inline void batch_kernel(const std::int16_t* ivl, const std::int16_t* dur,
                                                const std::int16_t* cls, const std::int16_t* rest,
                                                const std::int16_t* valid, std::size_t length,
                                                int lane0, const QueryFields& q,
                                                const AlignmentScoring& sc, std::int16_t* h,
                                                std::int16_t* e, int* out) {
  constexpr int kWidth = sizeof(V) / sizeof(std::int16_t);
  const std::size_t m = q.ivl.size();
  const V zero = splat<V>(0), oe = splat<V>(sc.gap_open + sc.gap_extend),
          ext = splat<V>(sc.gap_extend);
  // s = K + (same interval & A) + (same class & B) + (same duration & C) + (same rest & D):
  // four compares, four ands, four adds per cell (same duration implies same class).
  const V k_base = splat<V>(sc.interval_diff + sc.duration_diff + sc.rest_diff);
  const V a_ivl = splat<V>(sc.interval_same - sc.interval_diff);
  const V b_cls = splat<V>(sc.duration_near - sc.duration_diff);
  const V c_dur = splat<V>(sc.duration_same - sc.duration_near);
  const V d_rest = splat<V>(sc.rest_same - sc.rest_diff);
  const V none = splat<V>(kIntervalNone);
  // Local restrict pointers: the rows h and e are int16 too, and without these the
  // compiler reloads the query arrays' addresses after every store.
  const std::int16_t* __restrict qi = q.ivl.data();
  const std::int16_t* __restrict qd = q.dur.data();
  const std::int16_t* __restrict qc = q.cls.data();
  const std::int16_t* __restrict qr = q.rest.data();
  const std::int16_t* __restrict qany = q.any.data();
  const V e0 = zero - oe;
  for (std::size_t i = 0; i < m; ++i) store(h + i * kWidth, zero), store(e + i * kWidth, e0);
  V best = zero;
  for (std::size_t j = 0; j < length; ++j) {
    const std::size_t at = j * kLanes + static_cast<std::size_t>(lane0);
    const V ci = load<V>(ivl + at), cd = load<V>(dur + at), cc = load<V>(cls + at),
            cr = load<V>(rest + at), ok = load<V>(valid + at);
    const V cnone = ci == none;  // a first note: its interval matches any
    V diag = zero, up = zero, f = zero - oe;
    for (std::size_t i = 0; i < m; ++i) {
      const V imatch = (ci == qi[i]) | cnone | qany[i];
      const V s = k_base + (imatch & a_ivl) + ((cc == qc[i]) & b_cls) + ((cd == qd[i]) & c_dur) +
                  ((cr == qr[i]) & d_rest);
      const V hprev = load<V>(h + i * kWidth);
      const V ei = vmax(hprev - oe, load<V>(e + i * kWidth) - ext);
      f = vmax(up - oe, f - ext);
      const V hi = vmax(vmax(diag + s, zero), vmax(ei, f));
      diag = hprev;
      store(h + i * kWidth, hi);
      store(e + i * kWidth, ei);
      up = hi;
      best = vmax(best, hi & ok);
    }
  }
  for (int l = 0; l < kWidth; ++l) out[lane0 + l] = best[l];
}

// Working rows (H and E of the previous column) for one thread: [m][lanes of V].
// Plain int16 storage with unaligned loads: std::vector ignores the vector types'
// alignment when they are template arguments.
struct Rows {
  std::vector<std::int16_t> h, e;
};

void batch_scores_portable(const CorpusIndex::BatchView& b, const QueryFields& q,
                           const AlignmentScoring& sc, Rows& rows, int* out) {
  rows.h.resize(q.ivl.size() * 8);
  rows.e.resize(q.ivl.size() * 8);
  for (int lane0 = 0; lane0 < kLanes; lane0 += 8)
    batch_kernel<V8>(b.ivl, b.dur, b.cls, b.rest, b.valid, b.length, lane0, q, sc, rows.h.data(),
                     rows.e.data(), out);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MELODL_PIPELINE_AVX2 1
__attribute__((target("avx2"))) void batch_scores_avx2(const CorpusIndex::BatchView& b,
                                                       const QueryFields& q,
                                                       const AlignmentScoring& sc, Rows& rows,
                                                       int* out) {
  rows.h.resize(q.ivl.size() * 16);
  rows.e.resize(q.ivl.size() * 16);
  batch_kernel<V16>(b.ivl, b.dur, b.cls, b.rest, b.valid, b.length, 0, q, sc, rows.h.data(),
                    rows.e.data(), out);
}
#endif

bool use_avx2() {
#ifdef MELODL_PIPELINE_AVX2
  static const bool yes = __builtin_cpu_supports("avx2") && !std::getenv("MELODL_NO_AVX2");
  return yes;
#else
  return false;
#endif
}
}  // namespace

std::vector<int> CorpusIndex::scores(const std::vector<Token>& query,
                                     const AlignmentScoring& scoring, unsigned threads) const {
  scoring.validate();
  std::vector<int> result(melodies_.size(), 0);
  if (query.empty() || batches_.empty()) return result;
  const QueryFields q(query);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, batches_.size()));
  // int16 bound: no cell exceeds max_pair * min(lengths); intermediate values stay
  // above -(sum of |negative scores| + gap costs). Past the bound, use int32 scalar.
  const long long pair_max = scoring.max_pair_score();
  const long long neg = std::abs(scoring.interval_diff) + std::abs(scoring.duration_diff) +
                        std::abs(scoring.rest_diff) + 2LL * (scoring.gap_open + scoring.gap_extend);
  std::atomic<std::size_t> next{0};
  const bool avx2 = use_avx2();
  auto work = [&] {
    Rows rows;
    std::array<int, kLanes> out{};
    for (std::size_t b; (b = next.fetch_add(1)) < batches_.size();) {
      const Batch& bt = batches_[b];
      const long long bound = pair_max * static_cast<long long>(std::min(query.size(), bt.length));
      if (bound + neg > 32000) {
        for (int l = 0; l < bt.lanes; ++l) {
          const auto& t = melodies_[bt.index[l]].tokens;
          result[bt.index[l]] = local_score_scalar(query, t.data(), t.size(), scoring);
        }
        continue;
      }
      const BatchView view{bt.ivl.data(),  bt.dur.data(),   bt.cls.data(),
                           bt.rest.data(), bt.valid.data(), bt.length};
#ifdef MELODL_PIPELINE_AVX2
      if (avx2)
        batch_scores_avx2(view, q, scoring, rows, out.data());
      else
#endif
        batch_scores_portable(view, q, scoring, rows, out.data());
      for (int l = 0; l < bt.lanes; ++l) result[bt.index[l]] = out[l];
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return result;
}

// ---- exact copies ------------------------------------------------------------------------
std::size_t CorpusIndex::narrow(const std::vector<Token>& query, std::size_t start,
                                std::vector<std::pair<std::size_t, std::size_t>>* ranges) const {
  // Narrow the suffix-array range [lo, hi) one query token at a time; suffixes in the
  // range share their first k tokens, so they are sorted by the token at offset k (a
  // suffix that ends there sorts first). ranges[k-1]: the range matching k tokens.
  const std::size_t m = query.size(), n = text_.size();
  std::size_t lo = 0, hi = n, k = 0;
  if (ranges) ranges->clear();
  while (start + k < m && lo < hi) {
    const long long c = query[start + k];
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
    if (c_lo == a) break;
    lo = c_lo, hi = a;
    ++k;
    if (ranges) ranges->emplace_back(lo, hi);
  }
  return k;
}

void CorpusIndex::matching_statistics(const std::vector<Token>& query,
                                      std::vector<std::size_t>& length,
                                      std::vector<std::size_t>& text_pos) const {
  const std::size_t m = query.size();
  length.assign(m, 0);
  text_pos.assign(m, 0);
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (std::size_t i = 0; i < m; ++i) {
    if (i == 0 && interval_field(query[0]) == kIntervalNone) continue;  // below
    length[i] = narrow(query, i, &ranges);
    if (length[i]) text_pos[i] = sa_[ranges.back().first];
  }
  if (m == 0 || interval_field(query[0]) != kIntervalNone) return;
  // The first note's interval is unknown: it matches a corpus token of any interval
  // with the same duration and rest. Extend the matches of query[1..] one token to the
  // left, longest first.
  bool any = false;
  for (int v = 0; v <= kIntervalNone && !any; ++v)
    any = present_[static_cast<std::size_t>((v << 11) | (query[0] & 0x7FF))];
  if (!any) return;
  length[0] = 1;
  for (std::size_t p = 0; p < text_.size(); ++p)
    if (tokens_identical(text_[p], query[0]) && text_[p] != kSeparator) {
      text_pos[0] = p;
      break;
    }
  if (m < 2) return;
  narrow(query, 1, &ranges);
  for (std::size_t k = ranges.size(); k-- > 0;) {
    for (std::size_t x = ranges[k].first; x < ranges[k].second; ++x) {
      const std::size_t p = sa_[x];
      if (p > 0 && text_[p - 1] != kSeparator && tokens_identical(text_[p - 1], query[0])) {
        length[0] = k + 2;
        text_pos[0] = p - 1;
        return;
      }
    }
  }
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
