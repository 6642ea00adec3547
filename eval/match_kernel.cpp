// eval/match_kernel.cpp: the int16 SIMD local-alignment kernel that scores 16 corpus
// melodies at once (exact, no prefilter), the corpus index's batches for it, and
// CorpusIndex::scores. Part of melodl_eval; docs/evaluation.md.
// Tests: tests/eval/match_test.cpp.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "eval/match.h"
#include "eval/match_detail.h"

namespace melodl::eval {

using detail::duration_field;
using detail::interval_field;
using detail::kDurationClass;
using detail::kIntervalNone;
using detail::kLanes;
using detail::kPadField;
using detail::local_score_scalar;
using detail::rest_field;

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
typedef std::int16_t V8 __attribute__((vector_size(16)));
typedef std::int16_t V16 __attribute__((vector_size(32)));
}  // namespace

// Batches of 16 melodies of similar length (sorted by length, longest first), transposed.
void CorpusIndex::build_batches() {
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

}  // namespace melodl::eval
