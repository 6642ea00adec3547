// examples/flags.cpp: see flags.h.
#include "examples/flags.h"

#include <cctype>

#include "examples/cli_error.h"

namespace melodl::cli {

double parse_duration(const std::string& text, const std::string& flag) {
  double total = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.'))
      ++j;
    if (j == i)
      throw UsageError(flag + ": cannot read duration '" + text + "' (e.g. 10m, 45s, 1h30m)");
    const double v = std::stod(text.substr(i, j - i));
    std::size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    const std::string unit = text.substr(j, k - j);
    double mul = 0;
    if (unit.empty() || unit == "s")
      mul = 1;
    else if (unit == "ms")
      mul = 0.001;
    else if (unit == "m" || unit == "min")
      mul = 60;
    else if (unit == "h")
      mul = 3600;
    else
      throw UsageError(flag + ": unknown unit '" + unit + "' in '" + text + "' (ms, s, m, h)");
    total += v * mul;
    any = true;
    i = k;
  }
  if (!any) throw UsageError(flag + ": empty duration");
  return total;
}

CLI::Option* add_strict_flag(CLI::App& sub, bool& strict) {
  return sub.add_flag(
      "--strict", strict,
      "Refuse damaged MIDI files (truncated, stray bytes, ...) as melodl did before "
      "recovery; by default what is readable is kept and every repair counted "
      "(docs/midi.md)");
}

std::pair<std::string, std::string> name_and_path(const std::string& flag, const std::string& v) {
  const auto eq = v.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
    throw UsageError(flag + ": expected NAME=PATH, got '" + v + "'");
  return {v.substr(0, eq), v.substr(eq + 1)};
}

}  // namespace melodl::cli
