// midi/writer.cpp: writes a Song as a Standard MIDI File (melodl::midi), byte for byte the
// file libsmf 1.3 wrote for it before (format 1, or 0 for the conductor track alone; no
// running status; End-of-Track at the last event). libsmf's own save verified each file by
// loading it again and freed events in quadratic time (a 1M-symbol melody took minutes), so
// the bytes are laid out here, in time linear in the events. The file goes through
// base/files.h's AtomicFile (temporary file beside the target, fsync, rename).
#include "midi/writer.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/files.h"

namespace melodl::midi {

namespace {

// Text meta events are cut to 127 bytes, at a UTF-8 character boundary (libsmf 1.3 judged
// longer ones invalid; files stay as they were).
std::string fit_meta_text(const std::string& s) {
  constexpr std::size_t kMax = 127;
  if (s.size() <= kMax) return s;
  std::size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// The events of one track, sorted by tick then kind (note-offs first, then programs, then
// meta, then note-ons; else in the order added) so that a note ending where the next one
// starts stays paired. The bytes live in one pool: sorting moves 24-byte records only.
class TrackEvents {
 public:
  void reserve(std::size_t events) {
    events_.reserve(events);
    pool_.reserve(3 * events);
  }
  void add(std::int64_t tick, int order, std::initializer_list<std::uint8_t> bytes) {
    record(tick, order, bytes.size());
    pool_.append(bytes.begin(), bytes.end());
  }
  void add(std::int64_t tick, int order, std::string_view bytes) {
    record(tick, order, bytes.size());
    pool_.append(bytes);
  }
  struct Event {
    std::int64_t tick;
    std::uint32_t seq, offset;
    std::uint16_t size;
    std::uint8_t order;
  };
  std::vector<Event>& events() { return events_; }
  std::string_view bytes(const Event& e) const {
    return std::string_view(pool_).substr(e.offset, e.size);
  }

 private:
  void record(std::int64_t tick, int order, std::size_t size) {
    events_.push_back({tick, static_cast<std::uint32_t>(events_.size()),
                       static_cast<std::uint32_t>(pool_.size()), static_cast<std::uint16_t>(size),
                       static_cast<std::uint8_t>(order)});
  }
  std::vector<Event> events_;
  std::string pool_;
};

// Notes plus program changes in one track: keeps the event records' 32-bit offsets valid.
constexpr std::size_t kMaxTrackItems = std::size_t{1} << 29;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  throw WriteError(path.string() + ": " + problem);
}

void put_be(std::string& out, std::uint32_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Variable-length quantity: 7 bits a byte, most significant first, bit 7 set on all but the
// last.
void put_vlq(std::string& out, std::uint32_t v) {
  char buf[5];
  int n = 0;
  do {
    buf[n++] = static_cast<char>(v & 0x7F);
    v >>= 7;
  } while (v != 0);
  while (n-- > 0) out.push_back(static_cast<char>(buf[n] | (n > 0 ? 0x80 : 0)));
}

// One MTrk chunk: the events in order with their delta times, then End-of-Track at the
// last event's tick.
void put_track(const std::filesystem::path& path, std::string& out, TrackEvents& track) {
  auto& events = track.events();
  using Event = TrackEvents::Event;
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.tick != b.tick) return a.tick < b.tick;
    if (a.order != b.order) return a.order < b.order;
    return a.seq < b.seq;
  });
  out += "MTrk";
  const std::size_t length_at = out.size();
  put_be(out, 0, 4);
  std::int64_t last = 0;
  for (const Event& e : events) {
    if (e.tick < 0 || e.tick > INT_MAX)
      fail(path, "tick " + std::to_string(e.tick) + " out of range 0.." + std::to_string(INT_MAX) +
                     " (the most a track holds here: a melody this long needs fewer ticks "
                     "per unit, or splitting)");
    put_vlq(out, static_cast<std::uint32_t>(e.tick - last));
    out.append(track.bytes(e));
    last = e.tick;
  }
  out += std::string("\x00\xFF\x2F\x00", 4);  // End-of-Track, delta 0
  const std::size_t length = out.size() - length_at - 4;
  if (length > 0xFFFFFFFFu) fail(path, "a track of more than 4 GiB");
  std::string be;
  put_be(be, static_cast<std::uint32_t>(length), 4);
  out.replace(length_at, 4, be);
}

}  // namespace

Song make_song(int ppq, double bpm) {
  Song song;
  song.format = 1;
  song.division.smpte = false;
  song.division.ppq = static_cast<std::uint16_t>(std::clamp(ppq, 1, 0x7FFF));
  TempoChange t;
  t.us_per_quarter = static_cast<std::uint32_t>(
      std::clamp(std::lround(60e6 / (bpm > 0 ? bpm : 120.0)), 1L, 0xFFFFFFL));
  song.tempo_map.push_back(t);
  TimeSignature ts;
  song.time_signatures.push_back(ts);
  return song;
}

void write_file(const std::filesystem::path& path, const Song& song) {
  if (song.division.smpte) fail(path, "writing SMPTE division is not supported");
  if (song.division.ppq == 0 || song.division.ppq > 0x7FFF)
    fail(path,
         "ticks per quarter note " + std::to_string(song.division.ppq) + " out of range 1..32767");

  std::string out;
  const std::size_t tracks = song.tracks.size() + 1;
  if (tracks > 0xFFFF) fail(path, std::to_string(tracks) + " tracks (at most 65535)");
  out += "MThd";
  put_be(out, 6, 4);
  put_be(out, tracks > 1 ? 1 : 0, 2);  // format
  put_be(out, static_cast<std::uint32_t>(tracks), 2);
  put_be(out, song.division.ppq, 2);

  // Conductor track: tempo map and time signatures.
  {
    TrackEvents events;
    for (const TempoChange& t : song.tempo_map) {
      if (t.us_per_quarter == 0 || t.us_per_quarter > 0xFFFFFF)
        fail(path, "tempo " + std::to_string(t.us_per_quarter) + " us per quarter out of range");
      const std::uint32_t us = t.us_per_quarter;
      events.add(t.tick, 2,
                 {0xFF, 0x51, 0x03, static_cast<std::uint8_t>(us >> 16),
                  static_cast<std::uint8_t>(us >> 8), static_cast<std::uint8_t>(us)});
    }
    for (const TimeSignature& ts : song.time_signatures) {
      const unsigned den = ts.denominator;
      if (den == 0 || (den & (den - 1)) != 0)
        fail(path, "time-signature denominator " + std::to_string(den) + " is not a power of 2");
      std::uint8_t log2 = 0;
      while ((1u << log2) < den) ++log2;
      events.add(ts.tick, 2,
                 {0xFF, 0x58, 0x04, ts.numerator, log2, ts.clocks_per_click,
                  ts.notated_32nds_per_quarter});
    }
    put_track(path, out, events);
  }

  for (std::size_t ti = 0; ti < song.tracks.size(); ++ti) {
    const Track& tr = song.tracks[ti];
    if (tr.notes.size() + tr.programs.size() > kMaxTrackItems)
      fail(path, "track " + std::to_string(ti + 1) + ": " + std::to_string(tr.notes.size()) +
                     " notes and " + std::to_string(tr.programs.size()) +
                     " program changes, more than the 2^29 a track holds here");
    TrackEvents events;
    events.reserve(tr.notes.size() * 2 + tr.programs.size() + 1);
    if (!tr.name.empty()) {
      const std::string name = fit_meta_text(tr.name);
      events.add(0, 2, std::string{'\xFF', '\x03', static_cast<char>(name.size())} + name);
    }
    const std::string where = "track " + std::to_string(ti + 1) + ": ";
    for (const ProgramChange& p : tr.programs) {
      if (p.channel > 15 || p.program > 127)
        fail(path, where + "program change channel/program out of range");
      events.add(p.tick, 1, {static_cast<std::uint8_t>(0xC0 | p.channel), p.program});
    }
    for (std::size_t ni = 0; ni < tr.notes.size(); ++ni) {
      const Note& n = tr.notes[ni];
      if (n.channel > 15 || n.pitch > 127 || n.velocity == 0 || n.velocity > 127)
        fail(path,
             where + "note " + std::to_string(ni) + " has channel/pitch/velocity out of range");
      if (n.end_tick <= n.start_tick || n.start_tick < 0)
        fail(path, where + "note " + std::to_string(ni) + " has ticks " +
                       std::to_string(n.start_tick) + ".." + std::to_string(n.end_tick) +
                       " (needs 0 <= start < end)");
      events.add(n.start_tick, 3,
                 {static_cast<std::uint8_t>(0x90 | n.channel), n.pitch, n.velocity});
      events.add(n.end_tick, 0, {static_cast<std::uint8_t>(0x80 | n.channel), n.pitch, 0});
    }
    put_track(path, out, events);
  }

  // The one atomic writer (base/files.h). Like before, the folder must exist (AtomicFile
  // would create it).
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    fail(path, "cannot create a temporary file in " + dir.string() + ": " + std::strerror(ENOENT));
  try {
    AtomicFile file(path, 0644);
    file.write(out);
    file.commit();
  } catch (const IoError& e) {
    fail(path, e.what());
  }
}

}  // namespace melodl::midi
