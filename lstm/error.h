// lstm/error.h: exception types thrown at the melodl::lstm library boundary.
// Messages name where the problem was found and the offending value, e.g.
// "[NetworkConfig::validate] hidden must be >= 1, got 0".
#pragma once

#include <stdexcept>
#include <string>

namespace melodl::lstm {

// Base of every exception thrown by melodl::lstm.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller broke a documented contract (bad shape, bad config value, incompatible checkpoint).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

}  // namespace melodl::lstm

// Throws InvalidArgument(msg) when cond is false. msg is any expression convertible to string.
#define MELODL_CHECK(cond, msg)                                           \
  do {                                                                    \
    if (!(cond)) throw ::melodl::lstm::InvalidArgument(std::string(msg)); \
  } while (0)
