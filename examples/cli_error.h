// examples/cli_error.h: the two error kinds of the melodl program, on top of base/error.h.
// main.cpp turns them into `melodl <cmd>: error: ...` and the exit code: 2 for UsageError
// (a flag combination that cannot work), 1 for every other error (bad input, unwritable
// output, and every melodl::Error a module throws).
#pragma once

#include "base/error.h"

namespace melodl::cli {

class Error : public melodl::Error {
 public:
  using melodl::Error::Error;
};

class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace melodl::cli
