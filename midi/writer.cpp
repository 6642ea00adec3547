// midi/writer.cpp: writes a Song as a format-1 Standard MIDI File through libsmf
// (melodl::midi). libsmf and GLib stay private to this file: GLib log output is captured
// (never reaches the user's stderr) and every failure becomes a WriteError. The file goes
// through base/files.h's AtomicFile (temporary file beside the target, fsync, rename).
#include "midi/writer.h"

#include <smf.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "base/error.h"
#include "base/files.h"

namespace melodl::midi {

namespace {

// Collects GLib log messages (domains "libsmf" and "GLib") while libsmf runs, so nothing
// reaches the user's stderr. Handlers are process-wide, so writers serialise on a mutex.
class GlibLogCapture {
 public:
  GlibLogCapture() : lock_(mutex()) {
    const auto levels =
        static_cast<GLogLevelFlags>(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION);
    for (std::size_t i = 0; i < kDomains.size(); ++i)
      ids_[i] = g_log_set_handler(kDomains[i], levels, &GlibLogCapture::handler, this);
  }
  ~GlibLogCapture() {
    for (std::size_t i = 0; i < kDomains.size(); ++i) g_log_remove_handler(kDomains[i], ids_[i]);
  }
  GlibLogCapture(const GlibLogCapture&) = delete;
  GlibLogCapture& operator=(const GlibLogCapture&) = delete;
  const std::string& text() const { return text_; }

 private:
  static constexpr std::array<const char*, 2> kDomains = {"libsmf", "GLib"};
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static void handler(const gchar* /*domain*/, GLogLevelFlags /*level*/, const gchar* message,
                      gpointer self) {
    auto* capture = static_cast<GlibLogCapture*>(self);
    if (capture->text_.size() > 4096) return;
    if (!capture->text_.empty()) capture->text_ += "; ";
    capture->text_ += message ? message : "";
  }

  std::unique_lock<std::mutex> lock_;
  std::array<guint, 2> ids_{};
  std::string text_;
};

// libsmf 1.3 judges meta events of 128 bytes or more invalid (it misreads their multi-byte
// length), so text meta events are cut to 127 bytes, at a UTF-8 character boundary.
std::string fit_meta_text(const std::string& s) {
  constexpr std::size_t kMax = 127;
  if (s.size() <= kMax) return s;
  std::size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

struct SmfDeleter {
  void operator()(smf_t* s) const { smf_delete(s); }
};

// One event to add to a track, sorted by tick then kind (note-offs first, then programs,
// then meta, then note-ons) so that a note ending where the next one starts stays paired.
struct PendingEvent {
  std::int64_t tick;
  int order;
  std::size_t seq;
  std::vector<std::uint8_t> bytes;
};

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem,
                       const GlibLogCapture* log = nullptr) {
  std::string m = path.string() + ": " + problem;
  if (log && !log->text().empty()) m += " (libsmf: " + log->text() + ")";
  throw WriteError(m);
}

void add_events(const std::filesystem::path& path, smf_track_t* track,
                std::vector<PendingEvent>& events, const GlibLogCapture& log) {
  std::sort(events.begin(), events.end(), [](const PendingEvent& a, const PendingEvent& b) {
    if (a.tick != b.tick) return a.tick < b.tick;
    if (a.order != b.order) return a.order < b.order;
    return a.seq < b.seq;
  });
  std::int64_t last = 0;
  for (PendingEvent& e : events) {
    if (e.tick < 0 || e.tick > INT_MAX)
      fail(path, "tick " + std::to_string(e.tick) + " out of range");
    smf_event_t* ev = smf_event_new_from_pointer(e.bytes.data(), static_cast<int>(e.bytes.size()));
    if (!ev) fail(path, "cannot create a MIDI event", &log);
    smf_track_add_event_pulses(track, ev, static_cast<int>(e.tick));
    last = e.tick;
  }
  if (smf_track_add_eot_pulses(track, static_cast<int>(last)) != 0)
    fail(path, "cannot add End-of-Track", &log);
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

  GlibLogCapture log;
  std::unique_ptr<smf_t, SmfDeleter> smf(smf_new());
  if (!smf) fail(path, "libsmf: cannot create a file", &log);
  if (smf_set_ppqn(smf.get(), song.division.ppq) != 0) fail(path, "cannot set PPQ", &log);

  std::size_t seq = 0;
  // Conductor track: tempo map and time signatures.
  {
    smf_track_t* conductor = smf_track_new();
    if (!conductor) fail(path, "cannot create a track", &log);
    smf_add_track(smf.get(), conductor);
    std::vector<PendingEvent> events;
    for (const TempoChange& t : song.tempo_map) {
      if (t.us_per_quarter == 0 || t.us_per_quarter > 0xFFFFFF)
        fail(path, "tempo " + std::to_string(t.us_per_quarter) + " us per quarter out of range");
      const std::uint32_t us = t.us_per_quarter;
      events.push_back({t.tick,
                        2,
                        seq++,
                        {0xFF, 0x51, 0x03, static_cast<std::uint8_t>(us >> 16),
                         static_cast<std::uint8_t>(us >> 8), static_cast<std::uint8_t>(us)}});
    }
    for (const TimeSignature& ts : song.time_signatures) {
      const unsigned den = ts.denominator;
      if (den == 0 || (den & (den - 1)) != 0)
        fail(path, "time-signature denominator " + std::to_string(den) + " is not a power of 2");
      std::uint8_t log2 = 0;
      while ((1u << log2) < den) ++log2;
      events.push_back({ts.tick,
                        2,
                        seq++,
                        {0xFF, 0x58, 0x04, ts.numerator, log2, ts.clocks_per_click,
                         ts.notated_32nds_per_quarter}});
    }
    add_events(path, conductor, events, log);
  }

  for (std::size_t ti = 0; ti < song.tracks.size(); ++ti) {
    const Track& tr = song.tracks[ti];
    smf_track_t* track = smf_track_new();
    if (!track) fail(path, "cannot create a track", &log);
    smf_add_track(smf.get(), track);
    std::vector<PendingEvent> events;
    events.reserve(tr.notes.size() * 2 + tr.programs.size() + 1);
    if (!tr.name.empty()) {
      const std::string name = fit_meta_text(tr.name);
      std::vector<std::uint8_t> b = {0xFF, 0x03, static_cast<std::uint8_t>(name.size())};
      b.insert(b.end(), name.begin(), name.end());
      events.push_back({0, 2, seq++, std::move(b)});
    }
    const std::string where = "track " + std::to_string(ti + 1) + ": ";
    for (const ProgramChange& p : tr.programs) {
      if (p.channel > 15 || p.program > 127)
        fail(path, where + "program change channel/program out of range");
      events.push_back(
          {p.tick, 1, seq++, {static_cast<std::uint8_t>(0xC0 | p.channel), p.program}});
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
      events.push_back({n.start_tick,
                        3,
                        seq++,
                        {static_cast<std::uint8_t>(0x90 | n.channel), n.pitch, n.velocity}});
      events.push_back(
          {n.end_tick, 0, seq++, {static_cast<std::uint8_t>(0x80 | n.channel), n.pitch, 0}});
    }
    add_events(path, track, events, log);
  }

  // The one atomic writer (base/files.h): libsmf writes the temporary file through its path,
  // then commit() fsyncs, closes and renames it into place and fsyncs the folder, all
  // checked. Like before, the folder must exist (AtomicFile would create it).
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    fail(path, "cannot create a temporary file in " + dir.string() + ": " + std::strerror(ENOENT));
  try {
    AtomicFile out(path, 0644);
    if (smf_save(smf.get(), out.temp_path().c_str()) != 0)
      fail(path, "libsmf could not write the file", &log);
    smf.reset();
    out.commit();
  } catch (const IoError& e) {
    fail(path, e.what());
  }
}

}  // namespace melodl::midi
