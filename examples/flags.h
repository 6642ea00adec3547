// examples/flags.h: small helpers of the subcommands' flags (CLI11): whether a flag was given,
// an option checked against a range, durations such as "10m" or "1h30m", NAME=PATH values,
// and `--strict`
// (how MIDI inputs are read).
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "midi/reader.h"

namespace melodl::cli {

// Whether `name` (e.g. "--epochs") was given on the command line.
inline bool given(const CLI::App& sub, const char* name) {
  return sub.get_option(name)->count() > 0;
}

// An option whose value must lie in [lo, hi], its default shown in --help. Floating-point
// values must also be finite ("nan" passes a range check, so it is refused on its own).
template <class T, class Bound>
CLI::Option* add_in_range(CLI::App& sub, const std::string& name, T& value, const std::string& help,
                          Bound lo, Bound hi) {
  CLI::Option* o = sub.add_option(name, value, help);
  if constexpr (std::is_floating_point_v<T>) {
    o->check(CLI::Validator(
        [](std::string& text) {
          double v = 0;
          return CLI::detail::lexical_cast(text, v) && !std::isfinite(v)
                     ? std::string("not a finite number: ") + text
                     : std::string();
        },
        "", "FINITE"));
  }
  return o->check(CLI::Range(lo, hi))->capture_default_str();
}

// "10m", "45s", "1h30m", "90" (seconds), "500ms" -> seconds; throws cli::UsageError naming
// `flag`.
double parse_duration(const std::string& text, const std::string& flag);

// "NAME=PATH" (train's --style, classify's --corpus and --samples) -> {NAME, PATH}; throws
// cli::UsageError naming `flag` when either side is empty or there is no '='.
std::pair<std::string, std::string> name_and_path(const std::string& flag, const std::string& v);

// --strict of the commands that read MIDI inputs (extract, train, eval): refuse damaged files
// instead of recovering what is readable (docs/midi.md, "Recovery").
CLI::Option* add_strict_flag(CLI::App& sub, bool& strict);
// The read mode of that flag.
inline midi::ReadMode read_mode(bool strict) {
  return strict ? midi::ReadMode::strict : midi::ReadMode::recover;
}

}  // namespace melodl::cli
