// examples/command.cpp: storage of the subcommand registry declared in command.h.
// A function-local static, so cmd_*.cpp registrars may run in any order.
#include "examples/command.h"

namespace melodl::cli {

std::vector<CommandInfo>& registry() {
  static std::vector<CommandInfo> commands;
  return commands;
}

}  // namespace melodl::cli
