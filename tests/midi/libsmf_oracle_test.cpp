// tests/midi/libsmf_oracle_test.cpp: melodl's reader against libsmf 1.3 as a test oracle.
// Only well-formed files that libsmf is known to load safely are given to it in-process
// (data/bach and ../shared/corpora/bach/chorales); never the malformed fixtures. Notes are
// rebuilt from libsmf's events with the same pairing rule (FIFO per channel and key,
// velocity 0 = off, unended notes close at the track's last event, zero-length dropped)
// and compared note for note: channel, pitch, velocity, start/end tick, and seconds.
#include <gtest/gtest.h>
#include <smf.h>

#include <algorithm>
#include <array>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "midi/reader.h"

namespace melodl::midi {
namespace {

namespace fs = std::filesystem;

struct OracleNote {
  int channel, pitch, velocity;
  std::int64_t start, end;
  double start_s;
  auto key() const { return std::tie(start, pitch, channel); }
};

// Silences GLib while libsmf runs (it logs with g_critical/g_warning).
struct QuietGlib {
  QuietGlib() { prev_ = g_log_set_default_handler(&QuietGlib::drop, nullptr); }
  ~QuietGlib() { g_log_set_default_handler(prev_, nullptr); }
  static void drop(const gchar*, GLogLevelFlags, const gchar*, gpointer) {}
  GLogFunc prev_;
};

// Per track, libsmf's notes after melodl's pairing rule.
std::vector<std::vector<OracleNote>> libsmf_notes(const std::vector<char>& bytes, int& ntracks) {
  QuietGlib quiet;
  smf_t* smf = smf_load_from_memory(bytes.data(), static_cast<int>(bytes.size()));
  std::vector<std::vector<OracleNote>> out;
  if (!smf) {
    ntracks = -1;
    return out;
  }
  ntracks = smf->number_of_tracks;
  for (int t = 1; t <= smf->number_of_tracks; ++t) {
    smf_track_t* track = smf_get_track_by_number(smf, t);
    std::vector<OracleNote> notes;
    std::array<std::deque<std::size_t>, 16 * 128> pending;
    std::int64_t last = 0;
    for (int e = 1; e <= track->number_of_events; ++e) {
      smf_event_t* ev = smf_track_get_event_by_number(track, e);
      last = ev->time_pulses;
      if (ev->midi_buffer_length < 3) continue;
      const int status = ev->midi_buffer[0];
      const int kind = status & 0xF0, ch = status & 0x0F;
      const int key = ev->midi_buffer[1], vel = ev->midi_buffer[2];
      if (kind == 0x90 && vel > 0) {
        pending[static_cast<std::size_t>(ch * 128 + key)].push_back(notes.size());
        notes.push_back({ch, key, vel, ev->time_pulses, -1, ev->time_seconds});
      } else if (kind == 0x80 || kind == 0x90) {
        auto& q = pending[static_cast<std::size_t>(ch * 128 + key)];
        if (!q.empty()) {
          notes[q.front()].end = ev->time_pulses;
          q.pop_front();
        }
      }
    }
    for (auto& n : notes)
      if (n.end < 0) n.end = last;
    std::erase_if(notes, [](const OracleNote& n) { return n.end <= n.start; });
    std::stable_sort(notes.begin(), notes.end(),
                     [](const OracleNote& a, const OracleNote& b) { return a.key() < b.key(); });
    out.push_back(std::move(notes));
  }
  smf_delete(smf);
  return out;
}

std::vector<fs::path> midi_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".mid") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// ASSERTs need a void function: the count of compared files comes back through `files`.
void compare_dir(const fs::path& dir, std::size_t& files) {
  files = 0;
  for (const fs::path& path : midi_files(dir)) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    int ntracks = 0;
    const auto oracle = libsmf_notes(bytes, ntracks);
    ASSERT_GE(ntracks, 0) << path << ": libsmf failed on a file it should load";
    auto r =
        read_bytes(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                   path.string());
    ASSERT_TRUE(r) << r.error().what();
    const Song& song = *r;
    ASSERT_EQ(song.tracks.size(), oracle.size()) << path;
    for (std::size_t t = 0; t < oracle.size(); ++t) {
      const auto& want = oracle[t];
      const auto& got = song.tracks[t].notes;
      ASSERT_EQ(got.size(), want.size()) << path << " track " << t;
      for (std::size_t i = 0; i < want.size(); ++i) {
        const Note& g = got[i];
        const OracleNote& w = want[i];
        ASSERT_TRUE(g.channel == w.channel && g.pitch == w.pitch && g.velocity == w.velocity &&
                    g.start_tick == w.start && g.end_tick == w.end)
            << path << " track " << t << " note " << i << ": melodl ch " << int(g.channel)
            << " key " << int(g.pitch) << " ticks " << g.start_tick << ".." << g.end_tick
            << ", libsmf ch " << w.channel << " key " << w.pitch << " ticks " << w.start << ".."
            << w.end;
        ASSERT_NEAR(g.start_s, w.start_s, 1e-6) << path << " track " << t << " note " << i;
      }
    }
    ++files;
  }
}

TEST(MidiLibsmfOracle, BundledBachAgreesNoteForNote) {
  const fs::path dir = fs::path(MELODL_SOURCE_DIR) / "data" / "bach";
  std::size_t n = 0;
  compare_dir(dir, n);
  EXPECT_EQ(n, 105u) << "data/bach should hold 105 MIDI files";
}

TEST(MidiLibsmfOracle, SharedChoralesAgreeNoteForNote) {
  const fs::path dir =
      fs::path(MELODL_SOURCE_DIR) / ".." / "shared" / "corpora" / "bach" / "chorales";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "../shared/corpora/bach/chorales not present";
  std::size_t n = 0;
  compare_dir(dir, n);
  EXPECT_GT(n, 300u);
}

}  // namespace
}  // namespace melodl::midi
