// eval/match_align.cpp: exact local alignment (Smith-Waterman with affine gaps) of two
// token sequences, scalar and in linear memory: the best score alone (the SIMD kernel's
// fallback) and align() with its positions and counts. Part of melodl_eval;
// docs/evaluation.md. Tests: tests/eval/match_test.cpp.
#include <algorithm>
#include <climits>
#include <cstdint>
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

// align() in one pass and linear memory. A traceback would follow, from the best cell,
// the choices the recurrence made (ties: 0, then the diagonal, then E, then F; a gap is
// opened rather than extended on a tie). Instead every cell carries, for each of its
// three states (H, E: a target token against a gap, F: a query token against a gap), the
// summary of the path that traceback would take from there: where it starts and what it
// counts. The best cell's H summary is then exactly the traceback's result, with
// O(target) memory instead of a query x target pointer matrix.
namespace {
struct PathSummary {
  std::uint32_t query_begin = 0, target_begin = 0;
  std::uint32_t columns = 0, identical = 0, pairs = 0;
};
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
  const int oe = sc.gap_open + sc.gap_extend, ext = sc.gap_extend;
  std::vector<int> hprev(n + 1, 0), hcur(n + 1, 0), f(n + 1, kNegInf);
  // Path summaries of H in the previous and the current row, and of F per column.
  std::vector<PathSummary> pprev(n + 1), pcur(n + 1), pf(n + 1);
  for (std::size_t j = 0; j <= n; ++j) pprev[j].target_begin = static_cast<std::uint32_t>(j);
  pf = pprev;
  int best = 0;
  std::size_t bi = 0, bj = 0;
  PathSummary bp;
  for (std::size_t i = 1; i <= m; ++i) {
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
      if (h > best) best = h, bi = i, bj = j, bp = p;
    }
    std::swap(hprev, hcur);
    std::swap(pprev, pcur);
  }
  a.score = best;
  if (best == 0) return a;
  a.query_begin = bp.query_begin, a.query_end = bi;
  a.target_begin = bp.target_begin, a.target_end = bj;
  a.columns = bp.columns, a.pairs = bp.pairs, a.identical = bp.identical;
  a.identity = a.columns ? 100.0 * static_cast<double>(a.identical) / a.columns : 0.0;
  return a;
}

}  // namespace melodl::eval
