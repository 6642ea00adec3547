// midi/reader.h: melodl's own bounds-checked Standard MIDI File reader.
// Never crashes, aborts or hangs on untrusted bytes: every problem becomes a
// LoadError naming the file, the byte offset and what is wrong. See docs/midi.md
// for why melodl does not read with libsmf.
//
// Example:
//   auto r = melodl::midi::read_file(path);
//   if (!r) { std::cerr << r.error().what() << "\n"; }  // "x.mid: offset 22: truncated MTrk chunk
//   ..." else    { const melodl::midi::Song& song = *r; }
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/error.h"
#include "midi/model.h"

namespace melodl::midi {

// Limits that keep hostile files from exhausting memory or time.
struct ReadLimits {
  std::size_t max_file_bytes = 64u << 20;  // 64 MiB
  std::size_t max_tracks = 4096;
  std::size_t max_events = 20'000'000;  // over all tracks
  std::size_t max_notes = 5'000'000;
};

// Why a file could not be read: not there, unreadable, or not a Standard MIDI File. Returned
// in a Result (an expected failure in a corpus), and thrown only by callers that choose to.
// A melodl::FormatError (base/error.h).
class LoadError : public ::melodl::FormatError {
 public:
  LoadError(std::string file, std::int64_t offset, std::string problem);
  const std::string& file() const { return file_; }
  std::int64_t offset() const { return offset_; }  // -1 when not tied to a byte
  const std::string& problem() const { return problem_; }

 private:
  std::string file_;
  std::int64_t offset_;
  std::string problem_;
};

// Value-or-error (std::expected is C++23; melodl is C++20).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(LoadError error) : v_(std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const LoadError& error() const { return std::get<1>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, LoadError> v_;
};

// Read a file (SMF, or RMID-wrapped SMF). name = the path, in errors and Song::source.
Result<Song> read_file(const std::filesystem::path& path, const ReadLimits& limits = {});
// Read bytes already in memory; name appears in errors and Song::source.
Result<Song> read_bytes(std::span<const std::uint8_t> bytes, std::string_view name,
                        const ReadLimits& limits = {});

}  // namespace melodl::midi
