// examples/command.h: how `melodl` subcommands register themselves (git-style).
// Each examples/cmd_<name>.cpp declares its CLI11 options on its subcommand and
// returns the function that runs it; main.cpp builds the app from the registry.
// New subcommands need no edit of main.cpp: add a cmd_<name>.cpp file.
//
// Example (examples/cmd_hello.cpp):
//   namespace { melodl::cli::Runner setup(CLI::App& sub) {
//     auto name = std::make_shared<std::string>("world");
//     sub.add_option("--name", *name, "Who to greet")->capture_default_str();
//     return [name] { std::cout << "hello " << *name << "\n"; return 0; };
//   } }
//   MELODL_REGISTER_COMMAND(hello, "hello", "Print a greeting", setup);
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace melodl::cli {

// Runs a parsed subcommand; returns the process exit code.
using Runner = std::function<int()>;
// Declares the subcommand's options on `sub`; returns its Runner.
using Setup = std::function<Runner(CLI::App& sub)>;

struct CommandInfo {
  std::string name;
  std::string summary;
  Setup setup;
};

// All registered subcommands (static registration from cmd_*.cpp files).
std::vector<CommandInfo>& registry();

struct Registrar {
  Registrar(std::string name, std::string summary, Setup setup) {
    registry().push_back({std::move(name), std::move(summary), std::move(setup)});
  }
};

}  // namespace melodl::cli

#define MELODL_REGISTER_COMMAND(ident, name, summary, setup) \
  static const ::melodl::cli::Registrar ident##_command_registrar { name, summary, setup }
