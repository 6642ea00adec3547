// eval/match_align.cpp: exact local alignment (Smith-Waterman with affine gaps) of two
// token sequences, scalar: the best score alone in linear memory (the SIMD kernel's
// fallback) and align() with its traceback. Part of melodl_eval;
// docs/evaluation.md. Tests: tests/eval/match_test.cpp.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>

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

}  // namespace melodl::eval
