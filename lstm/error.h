// lstm/error.h: exception types thrown at the melodl::lstm library boundary, on top of the
// bottom layer's types (base/error.h). Messages name where the problem was found and the
// offending value, e.g. "[NetworkConfig::validate] hidden must be >= 1, got 0".
#pragma once

#include <string>

#include "base/error.h"

namespace melodl::lstm {

// Base of every exception thrown by melodl::lstm: melodl::Error itself, so
// `catch (const lstm::Error&)` and `catch (const melodl::Error&)` catch the same things.
using Error = ::melodl::Error;

// A caller broke a documented contract (bad shape, bad config value, incompatible checkpoint).
// A melodl::InvalidArgument of its own type, so a program can tell the library's contract
// checks from its own argument errors (the melodl program reports the former with exit 1).
class InvalidArgument : public ::melodl::InvalidArgument {
 public:
  using ::melodl::InvalidArgument::InvalidArgument;
};

}  // namespace melodl::lstm

// Throws InvalidArgument(msg) when cond is false. msg is any expression convertible to string.
#define MELODL_CHECK(cond, msg)                                           \
  do {                                                                    \
    if (!(cond)) throw ::melodl::lstm::InvalidArgument(std::string(msg)); \
  } while (0)
