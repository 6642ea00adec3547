// base/error.h: the exception types every melodl module throws or derives from. Messages say
// where and what, "[where] what": "[NetworkConfig::validate] hidden must be >= 1, got 0",
// "[write_file_atomic] cannot write out/a.txt: No space left on device".
// Expected failures (a damaged MIDI file in a corpus) are values, not exceptions: see
// midi::LoadResult. Modules add their own kinds by deriving from these (lstm::CheckpointError,
// cuda::CudaError, midi::WriteError, cli::UsageError).
#pragma once

#include <stdexcept>
#include <string>

namespace melodl {

// Base of every exception thrown by a melodl library.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller broke a documented contract: a bad shape, option value or argument.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// The file system refused: a path that does not exist, cannot be read, created or written.
class IoError : public Error {
 public:
  using Error::Error;
};

// A file's content is not what its format requires (a damaged checkpoint or melodies file).
class FormatError : public Error {
 public:
  using Error::Error;
};

}  // namespace melodl
