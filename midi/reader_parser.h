// midi/reader_parser.h: the reader's parser, shared by reader.cpp (driver, tempo map, API),
// reader_chunks.cpp (RMID, MThd, chunk walk) and reader_track.cpp (events of one MTrk).
// Internal to melodl_midi: not installed. Rules and rationale: docs/midi.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "midi/reader.h"

namespace melodl::midi::detail {

std::string hex_byte(std::uint8_t b);

inline std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t le32(const std::uint8_t* p) {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) |
         std::uint32_t{p[0]};
}

struct RawTempo {
  std::int64_t tick;
  std::uint32_t us_per_quarter;
};

// A FIFO of pending note-ons for one (channel, key), linked through Parser::next_.
struct Pending {
  std::int32_t head = -1;
  std::int32_t tail = -1;
};

enum class Vlq : std::uint8_t { ok, truncated, too_long };

class Parser {
 public:
  Parser(std::span<const std::uint8_t> bytes, std::string_view name, ReadMode mode,
         const ReadLimits& limits)
      : data_(bytes.data()),
        size_(bytes.size()),
        name_(name),
        recover_(mode == ReadMode::recover),
        limits_(limits) {}

  ReadReport parse();

 private:
  [[noreturn]] void fail(std::size_t offset, std::string problem) const;
  void warn(std::size_t offset, const std::string& problem);
  // Records a repair (counted always, itemised up to max_repairs); returns its item index or -1.
  std::ptrdiff_t repair(RepairKind kind, std::size_t offset, std::string detail, int track = -1,
                        std::int64_t tick = -1, std::size_t dropped = 0);
  // A repair that only recover mode makes: also a line in Song::warnings.
  std::ptrdiff_t recover_repair(RepairKind kind, std::size_t offset, const std::string& detail,
                                int track = -1, std::int64_t tick = -1, std::size_t dropped = 0);
  // When the items (and, if `warns`, the warnings) are full: counts the repair and returns
  // true, so that the caller builds no message (a file may hold a defect per byte).
  bool count_only(RepairKind kind, bool warns);
  // Offset of the first `tag` (4 bytes) in [from, to), or `to`.
  std::size_t find_tag(const char* tag, std::size_t from, std::size_t to) const;

  // reader_chunks.cpp
  void unwrap_rmid();
  void parse_header();
  void parse_chunks();

  // reader_track.cpp. Parses one MTrk body [begin, end); ticks start at tick0 (format 2 lays
  // tracks end to end).
  void parse_track(std::size_t begin, std::size_t end, std::int64_t tick0);
  Vlq read_vlq(std::size_t& pos, std::size_t end, std::uint32_t& value) const {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      if (pos >= end) return Vlq::truncated;
      const std::uint8_t b = data_[pos++];
      v = (v << 7) | (b & 0x7F);
      if (!(b & 0x80)) {
        value = v;
        return Vlq::ok;
      }
    }
    return Vlq::too_long;
  }
  // A VLQ read failed at `start`: strict mode throws; recover mode records the repair and the
  // caller ends the track at event_at (tick = the last complete event's tick).
  [[gnu::cold]] [[gnu::noinline]] void vlq_defect(Vlq status, std::size_t start, const char* what,
                                                  std::size_t event_at, std::size_t end,
                                                  std::int64_t tick);
  // The defects of a track, off the hot path (cold, not inlined). Strict mode throws; recover
  // mode records the repair. cut_event: the event at event_at is cut by the end of its chunk
  // (the track ends). skip_*: returns where reading resumes.
  enum class Cut : std::uint8_t { delta_at_end, channel, meta_type, meta_length, sysex_length };
  [[gnu::cold]] [[gnu::noinline]] void cut_event(Cut what, std::size_t event_at, std::size_t end,
                                                 std::int64_t tick, std::uint8_t byte = 0,
                                                 std::uint32_t len = 0, std::size_t remain = 0);
  // A meta event with invalid values, ignored (and a line in Song::warnings if as_warning).
  [[gnu::cold]] [[gnu::noinline]] void ignore_meta(std::size_t event_at, std::int64_t tick,
                                                   const char* what, bool as_warning);
  [[gnu::cold]] [[gnu::noinline]] std::uint8_t clip_data_byte(std::size_t at, std::uint8_t status,
                                                              std::int64_t tick);
  [[gnu::cold]] [[gnu::noinline]] std::size_t skip_status_less(std::size_t pos, std::size_t end,
                                                               std::int64_t tick);
  [[gnu::cold]] [[gnu::noinline]] std::size_t skip_undefined_status(std::size_t event_at,
                                                                    std::size_t status_at,
                                                                    std::size_t end,
                                                                    std::int64_t tick);
  // Recover mode: the rest of the track [event_at, end) is dropped at tick.
  void cut_track(RepairKind kind, std::size_t event_at, std::size_t end, std::int64_t tick,
                 const std::string& why);
  // Recover mode: the first plausible event start after `from` in [from, end), or end.
  std::size_t resync(std::size_t from, std::size_t end) const;
  bool plausible_event(std::size_t at, std::size_t end) const;
  // Recover mode: every note still sounding in the current track ends at tick.
  std::size_t close_open_notes(std::int64_t tick);
  void check_meta(std::uint8_t type, const std::uint8_t* m, std::uint32_t len, std::size_t event_at,
                  std::int64_t tick);

  void finish();

  static constexpr std::size_t kMaxWarnings = 32;
  static constexpr std::uint16_t kAssumedPpq = 480;

  const std::uint8_t* data_;
  std::size_t size_;
  std::string name_;
  bool recover_;
  ReadLimits limits_;
  std::size_t smf_begin_ = 0;  // the SMF inside the buffer (after RMID unwrapping)
  std::size_t smf_end_ = 0;
  int declared_tracks_ = 0;  // -1: no header (recover mode)
  std::size_t events_ = 0;
  std::size_t notes_ = 0;
  bool clipped_warned_ = false;
  bool running_warned_ = false;
  Song song_;
  Repairs repairs_;
  std::vector<RawTempo> tempos_;
  // Current track (reader_track.cpp)
  std::vector<std::int32_t> next_;           // FIFO links, parallel to the current track's notes
  std::array<Pending, 16 * 128> pending_{};  // per (channel, key)
  std::size_t open_from_ = 0;                // notes before this index are all ended
  bool cut_ = false;                         // the track's rest was dropped (recover mode)
  std::ptrdiff_t cut_item_ = -1;             // its repair item, to fill notes_closed
};

}  // namespace melodl::midi::detail
