// lstm/rng.cpp: Rng draws and (de)serialisation. See rng.h.
#include "lstm/rng.h"

#include <cmath>
#include <cstdio>
#include <numbers>
#include <sstream>

#include "lstm/error.h"

namespace melodl::lstm {

std::uint64_t Rng::below(std::uint64_t n) {
  MELODL_CHECK(n >= 1, "[Rng::below] n must be >= 1, got 0");
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t x = engine_();
  while (x >= limit) x = engine_();
  return x % n;
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double a = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(a);
  has_spare_ = true;
  return r * std::cos(a);
}

std::string Rng::state() const {
  std::ostringstream out;
  out << engine_ << ' ' << (has_spare_ ? 1 : 0) << ' ';
  char buf[32];
  std::snprintf(buf, sizeof buf, "%a", spare_);  // hex float: exact round trip
  out << buf;
  return out.str();
}

void Rng::set_state(const std::string& text) {
  std::istringstream in(text);
  std::mt19937_64 engine;
  int spare_flag = 0;
  std::string spare_text;
  in >> engine >> spare_flag >> spare_text;
  MELODL_CHECK(
      !in.fail() && (spare_flag == 0 || spare_flag == 1),
      "[Rng::set_state] malformed RNG state text (" + std::to_string(text.size()) + " bytes)");
  engine_ = engine;
  has_spare_ = spare_flag == 1;
  spare_ = std::strtod(spare_text.c_str(), nullptr);
}

}  // namespace melodl::lstm
