// examples/main.cpp: entry point of the `melodl` program. Builds one CLI11
// subcommand per registry entry (examples/command.h; each lives in a cmd_<name>.cpp),
// parses, runs the chosen one, and turns every error into a one-line message
// `melodl <cmd>: error: ...` with exit code 1 (2 for usage errors).
// Run `melodl --help` for the list of subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include "examples/cli_error.h"
#include "examples/command.h"

#ifndef MELODL_VERSION
#define MELODL_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  std::string command = "melodl";
  try {
    CLI::App app{"melodl: learn to compose melodies from MIDI files with GravesLSTM networks",
                 "melodl"};
    app.set_version_flag("--version", "melodl " MELODL_VERSION);
    app.require_subcommand(1);
    // Every option of every subcommand shows its default in --help.
    app.option_defaults()->always_capture_default();
    app.failure_message([](const CLI::App*, const CLI::Error& e) {
      return std::string("melodl: error: ") + e.what() + "\nRun `melodl --help` for usage.\n";
    });
    std::vector<std::pair<CLI::App*, melodl::cli::Runner>> runners;
    for (const auto& info : melodl::cli::registry()) {
      CLI::App* sub = app.add_subcommand(info.name, info.summary);
      runners.emplace_back(sub, info.setup(*sub));
    }
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int code = app.exit(e);
      return code == 0 ? 0 : 2;
    }
    for (auto& [sub, run] : runners) {
      if (sub->parsed()) {
        command = "melodl " + sub->get_name();
        return run();
      }
    }
    std::cerr << "melodl: error: no subcommand given (see melodl --help)\n";
    return 2;
  } catch (const melodl::cli::UsageError& e) {
    std::cerr << command << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << command << ": error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << command << ": error: " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << command << ": error: unknown failure\n";
    return 1;
  }
}
