// midi/reader.cpp: melodl's own bounds-checked Standard MIDI File reader (melodl::midi).
// Reads the whole file into one buffer and walks it with explicit bounds checks: RMID
// unwrapping, MThd, MTrk chunks (reader_chunks.cpp), events with running status and note
// pairing (reader_track.cpp), tempo and time-signature maps (here). In strict mode every
// problem becomes a LoadError naming the file, the byte offset and what is wrong; in recover
// mode the damaged part is dropped or snapped and listed as a Repair. Tolerated oddities
// become Song::warnings. Rules and rationale: docs/midi.md.
#include "midi/reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

#include "midi/reader_parser.h"

namespace melodl::midi {

namespace detail {

std::string hex_byte(std::uint8_t b) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string s = "0x";
  s += kDigits[b >> 4];
  s += kDigits[b & 15];
  return s;
}

void Parser::fail(std::size_t offset, std::string problem) const {
  throw LoadError(name_, static_cast<std::int64_t>(offset), std::move(problem));
}

void Parser::warn(std::size_t offset, const std::string& problem) {
  if (song_.warnings.size() < kMaxWarnings)
    song_.warnings.push_back("offset " + std::to_string(offset) + ": " + problem);
}

std::ptrdiff_t Parser::repair(RepairKind kind, std::size_t offset, std::string detail, int track,
                              std::int64_t tick, std::size_t dropped) {
  ++repairs_.by_kind[static_cast<std::size_t>(kind)];
  ++repairs_.total;
  if (repairs_.items.size() >= limits_.max_repairs) return -1;
  Repair& r = repairs_.items.emplace_back();
  r.kind = kind;
  r.offset = static_cast<std::int64_t>(offset);
  r.track = track;
  r.tick = tick;
  r.bytes_dropped = dropped;
  r.detail = std::move(detail);
  return static_cast<std::ptrdiff_t>(repairs_.items.size() - 1);
}

bool Parser::count_only(RepairKind kind, bool warns) {
  if (repairs_.items.size() < limits_.max_repairs ||
      (warns && song_.warnings.size() < kMaxWarnings))
    return false;
  ++repairs_.by_kind[static_cast<std::size_t>(kind)];
  ++repairs_.total;
  return true;
}

std::ptrdiff_t Parser::recover_repair(RepairKind kind, std::size_t offset,
                                      const std::string& detail, int track, std::int64_t tick,
                                      std::size_t dropped) {
  warn(offset, detail);
  return repair(kind, offset, detail, track, tick, dropped);
}

std::size_t Parser::find_tag(const char* tag, std::size_t from, std::size_t to) const {
  if (from >= to) return to;
  const std::string_view hay(reinterpret_cast<const char*>(data_ + from), to - from);
  const std::size_t at = hay.find(std::string_view(tag, 4));
  return at == std::string_view::npos ? to : from + at;
}

ReadReport Parser::parse() {
  song_.source = name_;
  if (size_ > limits_.max_file_bytes)
    fail(0, "file is " + std::to_string(size_) + " bytes, over the limit of " +
                std::to_string(limits_.max_file_bytes));
  smf_begin_ = 0;
  smf_end_ = size_;
  unwrap_rmid();
  parse_header();
  parse_chunks();
  finish();
  return ReadReport{std::move(song_), std::move(repairs_)};
}

void Parser::finish() {
  // Tempo map: every track's tempo events (sorted by tick, later in file order wins at one tick),
  // always starting at tick 0 (120 bpm until the first change).
  std::stable_sort(tempos_.begin(), tempos_.end(),
                   [](const RawTempo& a, const RawTempo& b) { return a.tick < b.tick; });
  auto& map = song_.tempo_map;
  map.reserve(tempos_.size() + 1);
  for (const RawTempo& t : tempos_) {
    if (!map.empty() && map.back().tick == t.tick) {
      map.back().us_per_quarter = t.us_per_quarter;
      continue;
    }
    if (map.empty() && t.tick != 0) map.push_back(TempoChange{});
    TempoChange c;
    c.tick = t.tick;
    c.us_per_quarter = t.us_per_quarter;
    map.push_back(c);
  }
  if (map.empty()) map.push_back(TempoChange{});
  if (!song_.division.smpte) {
    const double ppq = song_.division.ppq;
    for (std::size_t i = 1; i < map.size(); ++i)
      map[i].seconds = map[i - 1].seconds + static_cast<double>(map[i].tick - map[i - 1].tick) *
                                                static_cast<double>(map[i - 1].us_per_quarter) /
                                                (1e6 * ppq);
  } else {
    for (TempoChange& c : map) c.seconds = song_.tick_to_seconds(c.tick);
  }
  std::stable_sort(song_.time_signatures.begin(), song_.time_signatures.end(),
                   [](const TimeSignature& a, const TimeSignature& b) { return a.tick < b.tick; });

  std::int64_t end_tick = 0;
  for (Track& t : song_.tracks) {
    for (Note& n : t.notes) {
      n.start_s = song_.tick_to_seconds(n.start_tick);
      n.end_s = song_.tick_to_seconds(n.end_tick);
    }
    for (ProgramChange& p : t.programs) p.seconds = song_.tick_to_seconds(p.tick);
    end_tick = std::max(end_tick, t.end_tick);
  }
  song_.end_tick = end_tick;
  song_.duration_s = song_.tick_to_seconds(end_tick);
}

}  // namespace detail

std::string_view repair_kind_name(RepairKind kind) {
  static constexpr std::array<std::string_view, kRepairKindCount> kNames = {
      "leading_garbage",  "riff_wrapper",      "missing_header",       "bad_header",
      "track_count",      "garbage_skipped",   "chunk_past_end",       "trailing_bytes",
      "truncated",        "long_vlq",          "missing_end_of_track", "data_byte_clipped",
      "undefined_status", "no_running_status", "invalid_meta"};
  const auto i = static_cast<std::size_t>(kind);
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

namespace {

std::string format_message(const std::string& file, std::int64_t offset,
                           const std::string& problem) {
  std::string m = file.empty() ? std::string("<memory>") : file;
  m += ": ";
  if (offset >= 0) m += "offset " + std::to_string(offset) + ": ";
  m += problem;
  return m;
}

}  // namespace

LoadError::LoadError(std::string file, std::int64_t offset, std::string problem)
    : ::melodl::FormatError(format_message(file, offset, problem)),
      file_(std::move(file)),
      offset_(offset),
      problem_(std::move(problem)) {}

Result<ReadReport> read_bytes(std::span<const std::uint8_t> bytes, std::string_view name,
                              ReadMode mode, const ReadLimits& limits) {
  try {
    detail::Parser parser(bytes, name, mode, limits);
    return parser.parse();
  } catch (const LoadError& e) {
    return e;
  } catch (const std::bad_alloc&) {
    return LoadError(std::string(name), -1, "out of memory");
  } catch (const std::length_error&) {
    return LoadError(std::string(name), -1, "out of memory");
  }
}

Result<ReadReport> read_file(const std::filesystem::path& path, ReadMode mode,
                             const ReadLimits& limits) {
  const std::string name = path.string();
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> f(std::fopen(name.c_str(), "rb"));
  if (!f) return LoadError(name, -1, std::string("cannot open: ") + std::strerror(errno));
  std::error_code ec;
  const auto declared = std::filesystem::file_size(path, ec);
  if (!ec && declared > limits.max_file_bytes)
    return LoadError(name, -1,
                     "file is " + std::to_string(declared) + " bytes, over the limit of " +
                         std::to_string(limits.max_file_bytes));
  // Read in one buffer; the size check above is advisory (the file may change), so read at most
  // max_file_bytes + 1 bytes and let read_bytes report an over-limit file.
  std::vector<std::uint8_t> buf;
  try {
    buf.resize(ec ? std::size_t{1} << 16 : static_cast<std::size_t>(declared) + 1);
    std::size_t used = 0;
    for (;;) {
      if (used == buf.size()) {
        if (buf.size() > limits.max_file_bytes) break;
        buf.resize(std::min(buf.size() * 2, limits.max_file_bytes + 1));
      }
      const std::size_t got = std::fread(buf.data() + used, 1, buf.size() - used, f.get());
      used += got;
      if (got == 0) break;
    }
    if (std::ferror(f.get()))
      return LoadError(name, -1, std::string("read error: ") + std::strerror(errno));
    buf.resize(used);
  } catch (const std::bad_alloc&) {
    return LoadError(name, -1, "out of memory");
  }
  return read_bytes(buf, name, mode, limits);
}

namespace {

Result<Song> song_of(Result<ReadReport>&& r) {
  if (!r) return r.error();
  return std::move(r.value().song);
}

}  // namespace

Result<Song> read_bytes(std::span<const std::uint8_t> bytes, std::string_view name,
                        const ReadLimits& limits) {
  return song_of(read_bytes(bytes, name, ReadMode::strict, limits));
}

Result<Song> read_file(const std::filesystem::path& path, const ReadLimits& limits) {
  return song_of(read_file(path, ReadMode::strict, limits));
}

}  // namespace melodl::midi
