// examples/cli_error.h: the two error kinds of the melodl program. main.cpp turns
// them into `melodl <cmd>: error: ...` and the exit code: 1 for Error (bad input,
// unwritable output), 2 for UsageError (a flag combination that cannot work).
#pragma once

#include <stdexcept>

namespace melodl::cli {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace melodl::cli
