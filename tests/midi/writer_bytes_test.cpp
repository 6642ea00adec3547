// tests/midi/writer_bytes_test.cpp: midi::write_file lays out the bytes itself (libsmf's
// save was quadratic in a track's events); the files must be byte for byte what the former
// libsmf-backed writer produced. The reference below is that former writer (events sorted
// the same way, added to libsmf tracks, smf_save), kept as an oracle; it is only given
// small, valid songs. Run: <build>/tests/midi/midi_writer_bytes_test
#include <gtest/gtest.h>
#include <smf.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "midi/reader.h"
#include "midi/writer.h"
#include "tests/midi/writer_fixture.h"

namespace melodl::midi {
namespace {

namespace fs = std::filesystem;

struct Event {
  std::int64_t tick;
  int order;
  std::size_t seq;
  std::vector<std::uint8_t> bytes;
};

void add(smf_t* smf, std::vector<Event>& events) {
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.tick != b.tick) return a.tick < b.tick;
    if (a.order != b.order) return a.order < b.order;
    return a.seq < b.seq;
  });
  smf_track_t* track = smf_track_new();
  smf_add_track(smf, track);
  int last = 0;
  for (Event& e : events) {
    smf_event_t* ev = smf_event_new_from_pointer(e.bytes.data(), static_cast<int>(e.bytes.size()));
    smf_track_add_event_pulses(track, ev, static_cast<int>(e.tick));
    last = static_cast<int>(e.tick);
  }
  ASSERT_EQ(smf_track_add_eot_pulses(track, last), 0);
}

// The former write_file through libsmf (validation left out: the songs are valid).
std::string libsmf_bytes(const Song& song, const fs::path& path) {
  smf_t* smf = smf_new();
  EXPECT_EQ(smf_set_ppqn(smf, song.division.ppq), 0);
  std::size_t seq = 0;
  std::vector<Event> conductor;
  for (const TempoChange& t : song.tempo_map) {
    const std::uint32_t us = t.us_per_quarter;
    conductor.push_back({t.tick,
                         2,
                         seq++,
                         {0xFF, 0x51, 0x03, static_cast<std::uint8_t>(us >> 16),
                          static_cast<std::uint8_t>(us >> 8), static_cast<std::uint8_t>(us)}});
  }
  for (const TimeSignature& ts : song.time_signatures) {
    std::uint8_t log2 = 0;
    while ((1u << log2) < ts.denominator) ++log2;
    conductor.push_back({ts.tick,
                         2,
                         seq++,
                         {0xFF, 0x58, 0x04, ts.numerator, log2, ts.clocks_per_click,
                          ts.notated_32nds_per_quarter}});
  }
  add(smf, conductor);
  for (const Track& tr : song.tracks) {
    std::vector<Event> events;
    if (!tr.name.empty()) {
      const std::string name = tr.name.substr(0, 127);
      std::vector<std::uint8_t> b = {0xFF, 0x03, static_cast<std::uint8_t>(name.size())};
      b.insert(b.end(), name.begin(), name.end());
      events.push_back({0, 2, seq++, std::move(b)});
    }
    for (const ProgramChange& p : tr.programs)
      events.push_back(
          {p.tick, 1, seq++, {static_cast<std::uint8_t>(0xC0 | p.channel), p.program}});
    for (const Note& n : tr.notes) {
      events.push_back({n.start_tick,
                        3,
                        seq++,
                        {static_cast<std::uint8_t>(0x90 | n.channel), n.pitch, n.velocity}});
      events.push_back(
          {n.end_tick, 0, seq++, {static_cast<std::uint8_t>(0x80 | n.channel), n.pitch, 0}});
    }
    add(smf, events);
  }
  EXPECT_EQ(smf_save(smf, path.c_str()), 0);
  smf_delete(smf);
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string melodl_bytes(const Song& song, const fs::path& path) {
  write_file(path, song);
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class WriterBytes : public test::TempDirTest {
 protected:
  void expect_same(const Song& song, const std::string& what) {
    const std::string ours = melodl_bytes(song, dir_ / "melodl.mid");
    const std::string ref = libsmf_bytes(song, dir_ / "libsmf.mid");
    ASSERT_EQ(ours.size(), ref.size()) << what;
    EXPECT_TRUE(ours == ref) << what << ": first difference at byte "
                             << std::mismatch(ours.begin(), ours.end(), ref.begin()).first -
                                    ours.begin();
  }
};

using test::make_note;

TEST_F(WriterBytes, HandBuiltSongsAsLibsmfWroteThem) {
  expect_same(make_song(96, 120.0), "conductor track alone (format 0)");
  Song song = make_song(480, 100.0);
  song.tempo_map.push_back(TempoChange{1920, 0.0, 400000});
  TimeSignature three;
  three.tick = 1920, three.numerator = 3, three.denominator = 4;
  song.time_signatures.push_back(three);
  Track a, b, empty;
  a.name = "Melody";
  a.programs.push_back(ProgramChange{0, 0.0, 0, 73});
  a.notes = {make_note(0, 72, 100, 0, 480), make_note(0, 72, 90, 480, 960),
             make_note(0, 74, 80, 960, 2400)};
  b.name = std::string(200, 'x');  // cut to 127 bytes
  b.programs.push_back(ProgramChange{0, 0.0, 1, 32});
  b.programs.push_back(ProgramChange{1920, 0.0, 1, 33});
  b.notes = {make_note(1, 36, 110, 0, 960), make_note(1, 43, 100, 0, 960),
             make_note(1, 41, 100, 960, 300000)};
  song.tracks = {a, b, empty};
  expect_same(song, "two voices, a long delta, an empty track");
}

TEST_F(WriterBytes, RandomSongsAsLibsmfWroteThem) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> pitch(0, 127), vel(1, 127), len(1, 2000), gap(0, 500),
      ch(0, 15);
  for (int rep = 0; rep < 8; ++rep) {
    Song song = make_song(24 + 40 * rep, 60.0 + 10 * rep);
    for (int t = 0; t < 1 + rep % 3; ++t) {
      Track tr;
      tr.name = "track " + std::to_string(t);
      std::int64_t at = 0;
      for (int i = 0; i < 300; ++i) {
        const std::int64_t start = at + gap(rng);
        tr.notes.push_back(make_note(ch(rng), pitch(rng), vel(rng), start, start + len(rng)));
        at = start + (i % 3 == 0 ? 0 : len(rng) / 2);
      }
      song.tracks.push_back(tr);
    }
    expect_same(song, "random song " + std::to_string(rep));
  }
}

TEST_F(WriterBytes, BundledBachFilesRewrittenAsLibsmfWroteThem) {
  const fs::path dir = fs::path(MELODL_SOURCE_DIR) / "data" / "bach";
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".mid") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u);
  for (std::size_t i = 0; i < files.size(); i += 10) {
    auto song = read_file(files[i]);
    ASSERT_TRUE(song) << files[i];
    expect_same(*song, files[i].string());
  }
}

}  // namespace
}  // namespace melodl::midi
