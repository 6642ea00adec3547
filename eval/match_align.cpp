// eval/match_align.cpp: exact local alignment (Smith-Waterman with affine gaps) of two
// token sequences, scalar and in linear memory: the best score alone (the SIMD kernel's
// fallback) and align() with its positions and counts. Part of melodl_eval;
// docs/evaluation.md. Tests: tests/eval/match_test.cpp.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "base/error.h"

#include "eval/match.h"
#include "eval/match_detail.h"

namespace melodl::eval {

using detail::tokens_identical;

namespace {
constexpr int kNegInf = INT_MIN / 4;
enum : std::uint8_t { kFromZero = 0, kFromDiag = 1, kFromE = 2, kFromF = 3 };
}  // namespace

int detail::local_score_scalar(const std::vector<Token>& q, const Token* t, std::size_t n,
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

// align() in linear memory. A traceback would follow, from the best cell, the choices the
// recurrence made (ties: 0, then the diagonal, then E, then F; a gap is opened rather than
// extended on a tie). Instead every cell carries, for each of its three states (H, E: a
// target token against a gap, F: a query token against a gap), the summary of the path
// that traceback would take from there: where it starts and what it counts. The best
// cell's H summary is then exactly the traceback's result, with O(target) memory instead
// of a query x target pointer matrix.
// Summaries cost more than scores, so a first pass finds the best cell with scores only;
// the path to it adds at most pmax per pair and costs at least gap_extend per gap, so it
// spans at most n (1 + pmax / gap_extend) query rows, and a second pass carries summaries
// only over those rows above the best cell (scores only before them).
namespace {
struct PathSummary {
  std::uint32_t query_begin = 0, target_begin = 0;
  std::uint32_t columns = 0, identical = 0, pairs = 0;
};

struct Rows {
  std::vector<int> hprev, hcur, f;
  explicit Rows(std::size_t n) : hprev(n + 1, 0), hcur(n + 1, 0), f(n + 1, kNegInf) {}
};

// One row of scores (query token q), as in local_score_scalar; the row's first maximum.
void score_row(Token q, const std::vector<Token>& t, const AlignmentScoring& sc, Rows& r,
               int& row_best, std::size_t& row_j) {
  const int oe = sc.gap_open + sc.gap_extend, ext = sc.gap_extend;
  int e = kNegInf;
  r.hcur[0] = 0;
  row_best = 0, row_j = 0;
  for (std::size_t j = 1; j <= t.size(); ++j) {
    e = std::max(r.hcur[j - 1] - oe, e - ext);
    r.f[j] = std::max(r.hprev[j] - oe, r.f[j] - ext);
    const int h = std::max({0, r.hprev[j - 1] + sc.pair_score(q, t[j - 1]), e, r.f[j]});
    r.hcur[j] = h;
    if (h > row_best) row_best = h, row_j = j;
  }
  std::swap(r.hprev, r.hcur);
}

int max_of(std::initializer_list<int> v) { return std::max(v); }
}  // namespace

Alignment align(const std::vector<Token>& query, const std::vector<Token>& target,
                const AlignmentScoring& sc) {
  sc.validate();
  Alignment a;
  const std::size_t m = query.size(), n = target.size();
  if (m == 0 || n == 0) return a;
  if (m + n >= std::numeric_limits<std::uint32_t>::max())
    throw InvalidArgument("[eval::align] " + std::to_string(m) + " + " + std::to_string(n) +
                          " notes: the two melodies together must hold fewer than 2^32 notes");
  // Pass 1: the best score and its first cell in row-major order.
  int best = 0;
  std::size_t bi = 0, bj = 0;
  {
    Rows r(n);
    for (std::size_t i = 1; i <= m; ++i) {
      int row_best = 0;
      std::size_t row_j = 0;
      score_row(query[i - 1], target, sc, r, row_best, row_j);
      if (row_best > best) best = row_best, bi = i, bj = row_j;
    }
  }
  a.score = best;
  if (best == 0) return a;
  // Pass 2: scores only up to row r0, then summaries from row r0 + 1 to the best row.
  const int pmax = std::max(1, max_of({sc.interval_same, sc.interval_diff}) +
                                   max_of({sc.duration_same, sc.duration_near, sc.duration_diff}) +
                                   max_of({sc.rest_same, sc.rest_diff}));
  const std::size_t span =
      n + n * static_cast<std::size_t>(pmax) / static_cast<std::size_t>(sc.gap_extend) + 1;
  const std::size_t r0 = bi > span + 1 ? bi - span - 1 : 0;
  Rows r(n);
  for (std::size_t i = 1; i <= r0; ++i) {
    int row_best = 0;
    std::size_t row_j = 0;
    score_row(query[i - 1], target, sc, r, row_best, row_j);
  }
  const int oe = sc.gap_open + sc.gap_extend, ext = sc.gap_extend;
  std::vector<int>&hprev = r.hprev, &hcur = r.hcur, &f = r.f;
  // Path summaries of H in the previous and the current row, and of F per column. Row r0's
  // stand for starts there (the best path does not reach further up).
  std::vector<PathSummary> pprev(n + 1), pcur(n + 1), pf(n + 1);
  for (std::size_t j = 0; j <= n; ++j)
    pprev[j] = PathSummary{static_cast<std::uint32_t>(r0), static_cast<std::uint32_t>(j), 0, 0, 0};
  pf = pprev;
  PathSummary bp;
  for (std::size_t i = r0 + 1; i <= bi; ++i) {
    int e = kNegInf;
    hcur[0] = 0;
    pcur[0] = PathSummary{static_cast<std::uint32_t>(i), 0, 0, 0, 0};
    PathSummary pe = pcur[0];
    for (std::size_t j = 1; j <= n; ++j) {
      const int e_open = hcur[j - 1] - oe, e_ext = e - ext;
      e = std::max(e_open, e_ext);
      if (!(e_ext > e_open)) pe = pcur[j - 1];
      ++pe.columns;
      const int f_open = hprev[j] - oe, f_ext = f[j] - ext;
      f[j] = std::max(f_open, f_ext);
      if (!(f_ext > f_open)) pf[j] = pprev[j];
      ++pf[j].columns;
      const int diag = hprev[j - 1] + sc.pair_score(query[i - 1], target[j - 1]);
      int h = 0;
      std::uint8_t src = kFromZero;
      if (diag > h) h = diag, src = kFromDiag;
      if (e > h) h = e, src = kFromE;
      if (f[j] > h) h = f[j], src = kFromF;
      hcur[j] = h;
      PathSummary& p = pcur[j];
      switch (src) {
        case kFromZero:
          p = PathSummary{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j), 0, 0, 0};
          break;
        case kFromDiag:
          p = pprev[j - 1];
          ++p.columns, ++p.pairs;
          if (tokens_identical(query[i - 1], target[j - 1])) ++p.identical;
          break;
        case kFromE:
          p = pe;
          break;
        default:
          p = pf[j];
          break;
      }
    }
    if (i == bi) bp = pcur[bj];
    std::swap(hprev, hcur);
    std::swap(pprev, pcur);
  }
  a.query_begin = bp.query_begin, a.query_end = bi;
  a.target_begin = bp.target_begin, a.target_end = bj;
  a.columns = bp.columns, a.pairs = bp.pairs, a.identical = bp.identical;
  a.identity = a.columns ? 100.0 * static_cast<double>(a.identical) / a.columns : 0.0;
  return a;
}

}  // namespace melodl::eval
