// midi/reader.h: melodl's own bounds-checked Standard MIDI File reader.
// Never crashes, aborts or hangs on untrusted bytes: every problem becomes a
// LoadError naming the file, the byte offset and what is wrong. See docs/midi.md
// for why melodl does not read with libsmf.
//
// Two modes (docs/midi.md, "Recovery"): ReadMode::strict refuses any defect it cannot
// tolerate; ReadMode::recover keeps what is readable of a damaged file (it drops or truncates,
// never invents) and lists every repair. read_file(path) without a mode is strict.
//
// Example:
//   auto r = melodl::midi::read_file(path);
//   if (!r) { std::cerr << r.error().what() << "\n"; }  // "x.mid: offset 22: truncated MTrk chunk
//   ..." else    { const melodl::midi::Song& song = *r; }
//   auto rec = melodl::midi::read_file(path, melodl::midi::ReadMode::recover);
//   if (rec) for (const auto& x : rec->repairs.items) log(x.offset, x.detail);  // rec->song
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/error.h"
#include "midi/model.h"

namespace melodl::midi {

// Limits that keep hostile files from exhausting memory or time.
struct ReadLimits {
  std::size_t max_file_bytes = 64u << 20;  // 64 MiB
  std::size_t max_tracks = 4096;
  std::size_t max_events = 20'000'000;  // over all tracks
  std::size_t max_notes = 5'000'000;
  std::size_t max_repairs = 1000;  // repairs itemised in Repairs::items (all are counted)
};

// How the reader treats a damaged file.
enum class ReadMode : std::uint8_t {
  strict,   // refuse (LoadError) every defect it cannot tolerate, as melodl always did
  recover,  // keep every complete event before a defect, skip or snap the defect, go on
};

// The defects the reader repairs or tolerates, one policy each (docs/midi.md, "Recovery").
// Kinds marked (both) are tolerated in strict mode too; the others make strict mode fail.
enum class RepairKind : std::uint8_t {
  leading_garbage,       // bytes before MThd skipped
  riff_wrapper,          // (both) RIFF wrapper damaged or not RMID: SMF searched in the file
  missing_header,        // no MThd: tracks read from the first MTrk, format 1, 480 PPQ
  bad_header,            // MThd length, format, track count or division invalid: snapped
  track_count,           // (both) header track count differs from the MTrk chunks present
  garbage_skipped,       // bytes that are no chunk skipped to the next MTrk
  chunk_past_end,        // (both) a chunk longer than the file: read to the end of the file
  trailing_bytes,        // (both) bytes after the last track ignored
  truncated,             // event, VLQ, meta or SysEx cut by the end of its chunk: rest dropped
  long_vlq,              // a variable-length quantity over 4 bytes: rest of the track dropped
  missing_end_of_track,  // (both) track without End-of-Track: ends at its last event
  data_byte_clipped,     // (both) data byte above 127 in a channel message clipped to 127
  undefined_status,      // F1-F6, F8-FE in a track: skipped, resynchronised at the next event
  no_running_status,     // data byte where a status is needed, none running: resynchronised
  invalid_meta,          // (both) meta event with invalid values: ignored
};
inline constexpr std::size_t kRepairKindCount = 15;
// Stable snake_case name of a kind ("truncated", "undefined_status", ...) for reports.
std::string_view repair_kind_name(RepairKind kind);

// One repair: where, what was kept and what was dropped.
struct Repair {
  RepairKind kind = RepairKind::truncated;
  std::int64_t offset = -1;       // byte offset in the file (RMID wrapper included)
  int track = -1;                 // 0-based track index; -1 for file-level repairs
  std::int64_t tick = -1;         // track time of the repair; -1 outside a track
  std::size_t bytes_dropped = 0;  // bytes skipped or cut
  std::size_t notes_closed = 0;   // notes still sounding that were ended at `tick`
  std::string detail;             // one sentence: what was kept, dropped or snapped
};

struct Repairs {
  std::vector<Repair> items;  // in file order, the first ReadLimits::max_repairs
  std::array<std::size_t, kRepairKindCount> by_kind{};  // every repair, counted by kind
  std::size_t total = 0;
  std::size_t count(RepairKind kind) const { return by_kind[static_cast<std::size_t>(kind)]; }
  bool empty() const { return total == 0; }
};

// What read_file/read_bytes with a mode return: the song and the repairs made to read it.
struct ReadReport {
  Song song;
  Repairs repairs;
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

// Read a file (SMF, or RMID-wrapped SMF), strict. name = the path, in errors and Song::source.
Result<Song> read_file(const std::filesystem::path& path, const ReadLimits& limits = {});
// Read bytes already in memory, strict; name appears in errors and Song::source.
Result<Song> read_bytes(std::span<const std::uint8_t> bytes, std::string_view name,
                        const ReadLimits& limits = {});

// The same in the given mode, with the list of repairs. Strict mode gives the same Song (or
// LoadError) as above, its repairs being the tolerated defects. Recover mode still returns a
// LoadError when nothing can be read: no MThd and no MTrk, a header cut short, a limit
// exceeded, a file that cannot be opened.
Result<ReadReport> read_file(const std::filesystem::path& path, ReadMode mode,
                             const ReadLimits& limits = {});
Result<ReadReport> read_bytes(std::span<const std::uint8_t> bytes, std::string_view name,
                              ReadMode mode, const ReadLimits& limits = {});

}  // namespace melodl::midi
