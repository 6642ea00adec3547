// midi/reader.cpp: melodl's own bounds-checked Standard MIDI File reader (melodl::midi).
// Reads the whole file into one buffer and walks it with explicit bounds checks: RMID
// unwrapping, MThd, MTrk chunks (unknown chunks skipped), events with running status,
// note pairing (FIFO per channel and key), tempo and time-signature maps. Every problem
// becomes a LoadError naming the file, the byte offset and what is wrong; tolerated
// oddities become Song::warnings. Rules and rationale: docs/midi.md.
#include "midi/reader.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>
#include <vector>

namespace melodl::midi {

namespace {

std::string format_message(const std::string& file, std::int64_t offset,
                           const std::string& problem) {
  std::string m = file.empty() ? std::string("<memory>") : file;
  m += ": ";
  if (offset >= 0) m += "offset " + std::to_string(offset) + ": ";
  m += problem;
  return m;
}

std::string hex_byte(std::uint8_t b) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string s = "0x";
  s += kDigits[b >> 4];
  s += kDigits[b & 15];
  return s;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t le32(const std::uint8_t* p) {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) |
         std::uint32_t{p[0]};
}

bool is_chunk_id(const std::uint8_t* p) {
  for (int i = 0; i < 4; ++i)
    if (p[i] < 0x20 || p[i] > 0x7E) return false;
  return true;
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

class Parser {
 public:
  Parser(std::span<const std::uint8_t> bytes, std::string_view name, const ReadLimits& limits)
      : data_(bytes.data()), size_(bytes.size()), name_(name), limits_(limits) {}

  Song parse();

 private:
  [[noreturn]] void fail(std::size_t offset, std::string problem) const {
    throw LoadError(name_, static_cast<std::int64_t>(offset), std::move(problem));
  }
  void warn(std::size_t offset, const std::string& problem) {
    if (song_.warnings.size() < kMaxWarnings)
      song_.warnings.push_back("offset " + std::to_string(offset) + ": " + problem);
  }

  void unwrap_rmid();
  void parse_header();
  void parse_chunks();
  // Parses one MTrk body [begin, end); ticks start at tick0 (format 2 lays tracks end to end).
  void parse_track(std::size_t begin, std::size_t end, std::int64_t tick0);
  std::uint32_t read_vlq(std::size_t& pos, std::size_t end, const char* what) const;
  void finish();

  static constexpr std::size_t kMaxWarnings = 32;

  const std::uint8_t* data_;
  std::size_t size_;
  std::string name_;
  ReadLimits limits_;
  std::size_t smf_begin_ = 0;  // the SMF inside the buffer (after RMID unwrapping)
  std::size_t smf_end_ = 0;
  int declared_tracks_ = 0;
  std::size_t events_ = 0;
  std::size_t notes_ = 0;
  bool clipped_warned_ = false;
  bool running_warned_ = false;
  Song song_;
  std::vector<RawTempo> tempos_;
  std::vector<std::int32_t> next_;           // FIFO links, parallel to the current track's notes
  std::array<Pending, 16 * 128> pending_{};  // per (channel, key)
};

Song Parser::parse() {
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
  return std::move(song_);
}

// RMID: "RIFF" <size LE> "RMID" then RIFF chunks; the SMF is the 'data' chunk's body.
void Parser::unwrap_rmid() {
  if (size_ < 12 || std::memcmp(data_, "RIFF", 4) != 0) return;
  if (std::memcmp(data_ + 8, "RMID", 4) != 0) {
    const std::string form = is_chunk_id(data_ + 8)
                                 ? std::string(reinterpret_cast<const char*>(data_ + 8), 4)
                                 : hex_byte(data_[8]) + "...";
    fail(8, "RIFF file of form '" + form + "', not RMID");
  }
  std::size_t end = size_;
  const std::uint64_t riff_end = std::uint64_t{le32(data_ + 4)} + 8;
  if (riff_end < end) end = static_cast<std::size_t>(riff_end);
  std::size_t pos = 12;
  while (pos + 8 <= end) {
    const std::uint64_t len = le32(data_ + pos + 4);
    if (std::memcmp(data_ + pos, "data", 4) == 0) {
      smf_begin_ = pos + 8;
      const std::uint64_t avail = end - smf_begin_;
      if (len > avail) warn(pos, "RMID 'data' chunk declares more bytes than the file holds");
      smf_end_ = smf_begin_ + static_cast<std::size_t>(std::min(len, avail));
      return;
    }
    const std::uint64_t next = std::uint64_t{pos} + 8 + len + (len & 1);  // RIFF pads to even
    if (next > end) break;
    pos = static_cast<std::size_t>(next);
  }
  fail(12, "RIFF RMID file has no 'data' chunk");
}

void Parser::parse_header() {
  const std::size_t p = smf_begin_;
  if (smf_end_ - p < 4 || std::memcmp(data_ + p, "MThd", 4) != 0)
    fail(p, "not a Standard MIDI File (no MThd header)");
  if (smf_end_ - p < 14) fail(p, "truncated MThd header");
  const std::uint32_t len = be32(data_ + p + 4);
  if (len < 6) fail(p + 4, "MThd length " + std::to_string(len) + " is shorter than 6");
  if (len > smf_end_ - p - 8)
    fail(p + 4, "truncated MThd chunk (declares " + std::to_string(len) + " bytes, " +
                    std::to_string(smf_end_ - p - 8) + " remain)");
  const std::uint16_t format = be16(data_ + p + 8);
  const std::uint16_t ntracks = be16(data_ + p + 10);
  const std::uint16_t division = be16(data_ + p + 12);
  if (format > 2) fail(p + 8, "unsupported SMF format " + std::to_string(format));
  if (ntracks > limits_.max_tracks)
    fail(p + 10, "declares " + std::to_string(ntracks) + " tracks, over the limit of " +
                     std::to_string(limits_.max_tracks));
  song_.format = format;
  declared_tracks_ = ntracks;
  if (division & 0x8000) {
    const int fps = 256 - (division >> 8);
    const int tpf = division & 0xFF;
    if (fps != 24 && fps != 25 && fps != 29 && fps != 30)
      fail(p + 12, "invalid SMPTE frame rate " + std::to_string(fps));
    if (tpf == 0) fail(p + 13, "SMPTE division with 0 ticks per frame");
    song_.division.smpte = true;
    song_.division.ppq = 0;
    song_.division.frames_per_second = static_cast<std::uint8_t>(fps);
    song_.division.ticks_per_frame = static_cast<std::uint8_t>(tpf);
  } else {
    if (division == 0) fail(p + 12, "division of 0 ticks per quarter note");
    song_.division.smpte = false;
    song_.division.ppq = division;
  }
  smf_begin_ = p + 8 + len;  // first chunk after the header
}

void Parser::parse_chunks() {
  // Every MTrk chunk takes at least 8 bytes: never reserve more tracks than could fit.
  song_.tracks.reserve(
      std::min(static_cast<std::size_t>(declared_tracks_), (smf_end_ - smf_begin_) / 8));
  std::size_t pos = smf_begin_;
  std::int64_t format2_offset = 0;
  int found = 0;
  while (found < declared_tracks_) {
    const std::size_t remain = smf_end_ - pos;
    if (remain < 8) {
      warn(pos, "header declares " + std::to_string(declared_tracks_) + " tracks, file holds " +
                    std::to_string(found));
      return;
    }
    const std::uint8_t* c = data_ + pos;
    const std::uint32_t len = be32(c + 4);
    if (std::memcmp(c, "MTrk", 4) == 0) {
      if (len > remain - 8)
        fail(pos, "truncated MTrk chunk (declares " + std::to_string(len) + " bytes, " +
                      std::to_string(remain - 8) + " remain)");
      parse_track(pos + 8, pos + 8 + len, format2_offset);
      if (song_.format == 2) format2_offset = song_.tracks.back().end_tick;
      ++found;
      pos += 8 + std::size_t{len};
    } else if (is_chunk_id(c)) {
      if (len > remain - 8) {
        warn(pos, "unknown chunk runs past the end of the file; header declares " +
                      std::to_string(declared_tracks_) + " tracks, file holds " +
                      std::to_string(found));
        return;
      }
      pos += 8 + std::size_t{len};  // unknown chunk: skipped
    } else {
      fail(pos, "expected an MTrk chunk, found bytes " + hex_byte(c[0]) + " " + hex_byte(c[1]) +
                    " " + hex_byte(c[2]) + " " + hex_byte(c[3]) + " (track " +
                    std::to_string(found + 1) + " of " + std::to_string(declared_tracks_) + ")");
    }
  }
  if (pos < smf_end_) {
    // Trailing bytes after the declared tracks: tolerated (further MTrk chunks are not read).
    warn(pos, std::to_string(smf_end_ - pos) + " bytes after the last declared track ignored");
  }
}

std::uint32_t Parser::read_vlq(std::size_t& pos, std::size_t end, const char* what) const {
  std::uint32_t v = 0;
  const std::size_t start = pos;
  for (int i = 0; i < 4; ++i) {
    if (pos >= end) fail(start, std::string("truncated ") + what);
    const std::uint8_t b = data_[pos++];
    v = (v << 7) | (b & 0x7F);
    if (!(b & 0x80)) return v;
  }
  fail(start, std::string(what) + " is a variable-length quantity longer than 4 bytes");
}

void Parser::parse_track(std::size_t begin, std::size_t end, std::int64_t tick0) {
  Track& track = song_.tracks.emplace_back();
  std::vector<Note>& notes = track.notes;
  notes.reserve((end - begin) / 8);
  next_.clear();  // pending_ is all empty here: each track clears the keys it used
  bool have_name = false;
  bool ended = false;
  std::uint8_t running = 0;  // running status: channel messages only, kept across meta/sysex
  bool since_other = false;  // a meta or SysEx event came after the last channel message
  std::int64_t tick = tick0;
  std::size_t pos = begin;
  const std::uint8_t* d = data_;

  auto data_byte = [&](std::size_t at) -> std::uint8_t {
    const std::uint8_t b = d[at];
    if (b < 0x80) return b;
    if (!clipped_warned_) {
      clipped_warned_ = true;
      warn(at, "data byte " + hex_byte(b) + " above 127 clipped to 127");
    }
    return 0x7F;
  };

  while (pos < end) {
    const std::size_t event_at = pos;
    tick += read_vlq(pos, end, "delta time");
    if (pos >= end) fail(event_at, "truncated event (delta time at the end of the track)");
    if (++events_ > limits_.max_events)
      fail(event_at, "more than " + std::to_string(limits_.max_events) + " events");
    std::uint8_t status = d[pos];
    if (status & 0x80) {
      ++pos;
    } else {
      if (running == 0)
        fail(pos, "data byte " + hex_byte(status) +
                      " where a status byte is needed (no running "
                      "status)");
      status = running;
      if (since_other && !running_warned_) {
        running_warned_ = true;
        warn(pos, "running status continued across a meta or SysEx event (kept)");
      }
    }

    if (status < 0xF0) {  // channel message
      running = status;
      since_other = false;
      const std::uint8_t kind = status & 0xF0;
      const std::uint8_t ch = status & 0x0F;
      const std::size_t need = (kind == 0xC0 || kind == 0xD0) ? 1 : 2;
      if (end - pos < need)
        fail(event_at, "truncated channel message " + hex_byte(status) + " at the end of track");
      const std::uint8_t a = data_byte(pos);
      const std::uint8_t b = need == 2 ? data_byte(pos + 1) : 0;
      pos += need;
      if (kind == 0x90 && b > 0) {
        if (++notes_ > limits_.max_notes)
          fail(event_at, "more than " + std::to_string(limits_.max_notes) + " notes");
        const auto idx = static_cast<std::int32_t>(notes.size());
        Note n;
        n.channel = ch;
        n.pitch = a;
        n.velocity = b;
        n.start_tick = tick;
        n.end_tick = -1;
        notes.push_back(n);
        next_.push_back(-1);
        Pending& q = pending_[ch * 128u + a];
        if (q.tail >= 0)
          next_[static_cast<std::size_t>(q.tail)] = idx;
        else
          q.head = idx;
        q.tail = idx;
      } else if (kind == 0x80 || kind == 0x90) {  // note-off, or note-on with velocity 0
        Pending& q = pending_[ch * 128u + a];
        if (q.head >= 0) {
          const auto idx = static_cast<std::size_t>(q.head);
          notes[idx].end_tick = tick;
          q.head = next_[idx];
          if (q.head < 0) q.tail = -1;
        }
      } else if (kind == 0xC0) {
        ProgramChange pc;
        pc.tick = tick;
        pc.channel = ch;
        pc.program = a;
        track.programs.push_back(pc);
      }
      continue;
    }

    since_other = true;
    if (status == 0xFF) {  // meta event: FF type len data
      if (pos >= end) fail(event_at, "truncated meta event");
      const std::uint8_t type = d[pos++];
      const std::uint32_t len = read_vlq(pos, end, "meta event length");
      if (len > end - pos)
        fail(event_at, "meta event " + hex_byte(type) + " declares " + std::to_string(len) +
                           " bytes, " + std::to_string(end - pos) + " remain in the track");
      const std::uint8_t* m = d + pos;
      pos += len;
      if (type == 0x2F) {
        ended = true;
        break;
      }
      if (type == 0x51) {
        if (len >= 3)
          tempos_.push_back(RawTempo{tick, (std::uint32_t{m[0]} << 16) |
                                               (std::uint32_t{m[1]} << 8) | std::uint32_t{m[2]}});
        else
          warn(event_at, "tempo meta event shorter than 3 bytes ignored");
      } else if (type == 0x58) {
        if (len >= 4 && m[1] <= 7) {
          TimeSignature ts;
          ts.tick = tick;
          ts.numerator = m[0];
          ts.denominator = static_cast<std::uint8_t>(1u << m[1]);
          ts.clocks_per_click = m[2];
          ts.notated_32nds_per_quarter = m[3];
          song_.time_signatures.push_back(ts);
        } else {
          warn(event_at, "malformed time-signature meta event ignored");
        }
      } else if (type == 0x03 && !have_name) {
        track.name.assign(reinterpret_cast<const char*>(m), len);
        have_name = true;
      }
      continue;
    }

    if (status == 0xF0 || status == 0xF7) {  // SysEx, or F7 continuation/escape: skipped
      const std::uint32_t len = read_vlq(pos, end, "SysEx length");
      if (len > end - pos)
        fail(event_at, "SysEx event declares " + std::to_string(len) + " bytes, " +
                           std::to_string(end - pos) + " remain in the track");
      pos += len;
      continue;
    }

    fail(event_at, "status byte " + hex_byte(status) + " is not allowed in a MIDI file");
  }

  if (!ended && end > begin)
    warn(end, "track " + std::to_string(song_.tracks.size()) + " has no End-of-Track event");
  if (end == begin) warn(begin, "track " + std::to_string(song_.tracks.size()) + " is empty");
  track.end_tick = tick;

  // Unended notes close at the end of their track; notes of zero length are dropped.
  for (Note& n : notes) {
    if (n.end_tick < 0) n.end_tick = tick;
    pending_[n.channel * 128u + n.pitch] = Pending{};  // ready for the next track
  }
  notes.erase(std::remove_if(notes.begin(), notes.end(),
                             [](const Note& n) { return n.end_tick <= n.start_tick; }),
              notes.end());
  std::stable_sort(notes.begin(), notes.end(), [](const Note& x, const Note& y) {
    if (x.start_tick != y.start_tick) return x.start_tick < y.start_tick;
    if (x.pitch != y.pitch) return x.pitch < y.pitch;
    return x.channel < y.channel;
  });
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

}  // namespace

LoadError::LoadError(std::string file, std::int64_t offset, std::string problem)
    : ::melodl::FormatError(format_message(file, offset, problem)),
      file_(std::move(file)),
      offset_(offset),
      problem_(std::move(problem)) {}

Result<Song> read_bytes(std::span<const std::uint8_t> bytes, std::string_view name,
                        const ReadLimits& limits) {
  try {
    Parser parser(bytes, name, limits);
    return parser.parse();
  } catch (const LoadError& e) {
    return e;
  } catch (const std::bad_alloc&) {
    return LoadError(std::string(name), -1, "out of memory");
  } catch (const std::length_error&) {
    return LoadError(std::string(name), -1, "out of memory");
  }
}

Result<Song> read_file(const std::filesystem::path& path, const ReadLimits& limits) {
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
  return read_bytes(buf, name, limits);
}

}  // namespace melodl::midi
