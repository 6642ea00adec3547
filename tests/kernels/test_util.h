// tests/kernels/test_util.h: helpers shared by the kernel tests: seeded inputs, the one
// comparison function (expect_allclose, style.md 2.6), and finite-difference utilities.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace melodl::test {

// Uniform values in [lo, hi) from a fixed seed (reproducible across runs and platforms
// as far as std::mt19937 is; the distribution is only used for test inputs).
template <typename T = double>
std::vector<T> uniform(size_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(gen));
  return v;
}

inline std::vector<int32_t> uniform_int(size_t n, uint32_t seed, int32_t lo, int32_t hi_incl) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> d(lo, hi_incl);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

template <typename To, typename From>
std::vector<To> cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// Passes when |a - e| <= atol + rtol*|e| for every element (NumPy allclose). On failure
// prints the max absolute / relative error, the worst element and the first 5 mismatches,
// with indices decoded along `dims` (row-major, e.g. {T,B,H}) when given.
template <typename A, typename E>
void expect_allclose(const std::vector<A>& actual, const std::vector<E>& expected, double atol,
                     double rtol, const std::string& name, const std::vector<int64_t>& dims = {}) {
  ASSERT_EQ(actual.size(), expected.size()) << name << ": size mismatch";
  auto coord = [&](size_t k) {
    std::ostringstream os;  // not operator+: GCC 12 -O3 -Wrestrict false positive
    if (dims.empty()) {
      os << "[" << k << "]";
      return os.str();
    }
    std::vector<int64_t> c(dims.size());
    int64_t r = static_cast<int64_t>(k);
    for (size_t d = dims.size(); d-- > 0;) {
      c[d] = r % dims[d];
      r /= dims[d];
    }
    os << "(";
    for (size_t d = 0; d < c.size(); ++d) os << (d ? "," : "") << c[d];
    os << ")";
    return os.str();
  };
  double max_abs = 0, max_rel = 0, worst_budget = 0;
  size_t worst = 0, bad = 0;
  std::ostringstream first;
  for (size_t k = 0; k < actual.size(); ++k) {
    const double a = static_cast<double>(actual[k]), e = static_cast<double>(expected[k]);
    const double err =
        std::isnan(a) != std::isnan(e) ? INFINITY : (std::isnan(a) ? 0 : std::abs(a - e));
    const double budget = atol + rtol * std::abs(e);
    max_abs = std::max(max_abs, err);
    if (e != 0) max_rel = std::max(max_rel, err / std::abs(e));
    const double used = budget > 0 ? err / budget : (err > 0 ? INFINITY : 0);
    if (used > worst_budget) {
      worst_budget = used;
      worst = k;
    }
    if (err > budget) {
      if (bad < 5) first << "  " << name << coord(k) << ": got " << a << ", want " << e << "\n";
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0u) << name << ": " << bad << " of " << actual.size()
                     << " elements outside atol=" << atol << " rtol=" << rtol << "; max abs err "
                     << max_abs << ", max rel err " << max_rel << ", worst " << name << coord(worst)
                     << " used " << worst_budget * 100 << "% of its budget\n"
                     << first.str();
}

template <typename T>
double max_abs_diff(const std::vector<T>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(static_cast<double>(a[k]) - b[k]));
  return m;
}

// atol for comparing an fp32 implementation with ref<double>: at least `floor`, and at least
// 4x the error of ref<float> (same math, sequential order) so it follows shape and length.
template <typename F>
double calibrated_atol(const std::vector<F>& ref_float, const std::vector<double>& ref_double,
                       double floor) {
  return std::max(floor, 4 * max_abs_diff(ref_float, ref_double));
}

template <typename T>
double norm2(const std::vector<T>& v) {
  double s = 0;
  for (auto x : v) s += static_cast<double>(x) * static_cast<double>(x);
  return std::sqrt(s);
}

// Central finite difference of loss() with respect to every element of v (double).
inline std::vector<double> numeric_grad(std::vector<double>& v, const std::function<double()>& loss,
                                        double step = 1e-5) {
  std::vector<double> g(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    const double keep = v[k];
    v[k] = keep + step;
    const double lp = loss();
    v[k] = keep - step;
    const double lm = loss();
    v[k] = keep;
    g[k] = (lp - lm) / (2 * step);
  }
  return g;
}

}  // namespace melodl::test
