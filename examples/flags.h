// examples/flags.h: small helpers of the subcommands' flags (CLI11): whether a flag was given,
// an option checked against a range, and durations such as "10m" or "1h30m".
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace melodl::cli {

// Whether `name` (e.g. "--epochs") was given on the command line.
inline bool given(const CLI::App& sub, const char* name) {
  return sub.get_option(name)->count() > 0;
}

// An option whose value must lie in [lo, hi], its default shown in --help.
template <class T, class Bound>
CLI::Option* add_in_range(CLI::App& sub, const std::string& name, T& value, const std::string& help,
                          Bound lo, Bound hi) {
  return sub.add_option(name, value, help)->check(CLI::Range(lo, hi))->capture_default_str();
}

// "10m", "45s", "1h30m", "90" (seconds), "500ms" -> seconds; throws cli::UsageError naming
// `flag`.
double parse_duration(const std::string& text, const std::string& flag);

}  // namespace melodl::cli
