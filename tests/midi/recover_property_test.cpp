// tests/midi/recover_property_test.cpp: properties of the reader's recover mode on real files.
// (1) A valid file cut at every offset: recover mode returns a prefix of the full file's notes
//     and never more: the tracks before the cut are identical, and the cut track holds exactly
//     the notes that start before its last known time, each ended at the earlier of its own end
//     and that time. (2) Every status byte of a real file replaced by an undefined one: the
//     notes before the defect are those of the valid file. (3) On valid files recover mode and
//     strict mode read the same notes with the same repairs.
// Files: data/bach (in the repository), the fuzz seeds, and ../shared/corpora when present.
#include <gtest/gtest.h>

#include <algorithm>
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
using Bytes = std::vector<std::uint8_t>;

Bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

using Key = std::tuple<int, int, int, std::int64_t, std::int64_t>;  // ch, key, vel, start, end

std::vector<Key> keys(const std::vector<Note>& notes) {
  std::vector<Key> out;
  for (const Note& n : notes)
    out.emplace_back(n.channel, n.pitch, n.velocity, n.start_tick, n.end_tick);
  std::sort(out.begin(), out.end());
  return out;
}

// The property (1) for one cut; returns false (with a failure) at the first violation.
bool is_prefix(const Song& full, const Song& rec, const std::string& what) {
  if (rec.tracks.size() > full.tracks.size()) {
    ADD_FAILURE() << what << ": " << rec.tracks.size() << " tracks, the file has "
                  << full.tracks.size();
    return false;
  }
  for (std::size_t t = 0; t < rec.tracks.size(); ++t) {
    const Track& r = rec.tracks[t];
    const Track& f = full.tracks[t];
    std::vector<Key> want;
    for (const Note& n : f.notes)
      if (n.start_tick < r.end_tick)
        want.emplace_back(n.channel, n.pitch, n.velocity, n.start_tick,
                          std::min(n.end_tick, r.end_tick));
    std::sort(want.begin(), want.end());
    if (keys(r.notes) != want || r.end_tick > f.end_tick) {
      ADD_FAILURE() << what << ": track " << t << " has " << r.notes.size() << " notes, want "
                    << want.size() << " (end tick " << r.end_tick << " of " << f.end_tick << ")";
      return false;
    }
    if (t + 1 < rec.tracks.size() &&
        (r.end_tick != f.end_tick || r.notes.size() != f.notes.size())) {
      ADD_FAILURE() << what << ": track " << t << " is not the last read but differs";
      return false;
    }
  }
  return true;
}

std::vector<fs::path> test_files() {
  const fs::path src(MELODL_SOURCE_DIR);
  std::vector<fs::path> files = {
      src / "data/bach/mutopia-keyboard/BWV772__bach-invention-01.mid",  // format 1, 3 tracks
      src / "data/bach/piano-midi.de/bach_846.mid",
      src / "tests/fuzz/seeds/fixture_format1_running_status.mid",
      src / "tests/fuzz/seeds/fixture_sysex_meta_running.mid",
      src / "tests/fuzz/seeds/fixture_format2_noeot_empty.mid",
  };
  const fs::path shared = src / ".." / "shared" / "corpora";
  for (const char* f : {"parser-tests/music21/test06.mid", "parser-tests/pretty-midi/example.mid",
                        "parser-tests/tonejs/230_bpm_multitrack.mid"})
    if (fs::exists(shared / f)) files.push_back(shared / f);
  return files;
}

TEST(MidiRecoverProperty, EveryCutReturnsAPrefixOfTheNotes) {
  for (const fs::path& file : test_files()) {
    SCOPED_TRACE(file.string());
    const Bytes b = slurp(file);
    ASSERT_FALSE(b.empty());
    auto full = read_bytes(b, "full", ReadMode::strict);
    ASSERT_TRUE(full.ok()) << full.error().what();
    std::size_t read = 0, tried = 0;
    // Every offset, except in files over 8 KiB (quadratic time): every offset of the first and
    // last 1 KiB, and a co-prime stride between.
    const std::size_t big = b.size() > (8u << 10) ? 1024 : b.size();
    for (std::size_t len = 0; len <= b.size();
         len += (len < big || len + big >= b.size()) ? 1 : 37) {
      auto r = read_bytes(std::span(b.data(), len), "cut", ReadMode::recover);
      if (len >= 14) ++tried;
      if (!r) continue;  // nothing readable (no complete header)
      ++read;
      if (!is_prefix(full->song, r->song, "cut at " + std::to_string(len))) break;
      if (len < b.size()) {
        EXPECT_FALSE(r->repairs.empty()) << "cut at " << len;
      }
    }
    EXPECT_EQ(read, tried);  // every cut after the header reads
    // The whole file reads the same in both modes.
    auto whole = read_bytes(b, "whole", ReadMode::recover);
    ASSERT_TRUE(whole.ok());
    for (std::size_t t = 0; t < full->song.tracks.size(); ++t)
      EXPECT_EQ(keys(whole->song.tracks[t].notes), keys(full->song.tracks[t].notes));
  }
}

TEST(MidiRecoverProperty, NotesBeforeAnUndefinedStatusAreThoseOfTheValidFile) {
  const fs::path file =
      fs::path(MELODL_SOURCE_DIR) / "data/bach/mutopia-keyboard/BWV772__bach-invention-01.mid";
  const Bytes orig = slurp(file);
  auto full = read_bytes(orig, "full", ReadMode::strict);
  ASSERT_TRUE(full.ok());
  std::size_t cases = 0;
  for (std::size_t at = 23; at < orig.size(); ++at) {
    // A likely status byte: a note-on/off after a delta time's last byte.
    if ((orig[at] & 0xE0) != 0x80 || orig[at - 1] >= 0x80) continue;
    for (std::uint8_t bad : {0xF4, 0xF9}) {
      Bytes b = orig;
      b[at] = bad;
      auto r = read_bytes(b, "bad", ReadMode::recover);
      ASSERT_TRUE(r.ok()) << at;
      const Repair* x = nullptr;
      for (const Repair& y : r->repairs.items)
        if (y.kind == RepairKind::undefined_status) x = &y;
      if (x == nullptr) continue;  // the byte was inside a meta or SysEx event
      ++cases;
      ASSERT_EQ(x->offset, static_cast<std::int64_t>(at));
      const auto t = static_cast<std::size_t>(x->track);
      const std::int64_t tick = x->tick;
      // Notes that start before the defect: the same notes; those that end before it: the
      // same ends; the others end no later than in the valid file.
      std::vector<Note> rec, want;
      for (const Note& n : r->song.tracks[t].notes)
        if (n.start_tick < tick) rec.push_back(n);
      for (const Note& n : full->song.tracks[t].notes)
        if (n.start_tick < tick) want.push_back(n);
      ASSERT_EQ(rec.size(), want.size()) << "defect at " << at;
      for (std::size_t i = 0; i < rec.size(); ++i) {
        EXPECT_EQ(rec[i].pitch, want[i].pitch);
        EXPECT_EQ(rec[i].start_tick, want[i].start_tick);
        EXPECT_EQ(rec[i].velocity, want[i].velocity);
        if (want[i].end_tick <= tick) {
          EXPECT_EQ(rec[i].end_tick, want[i].end_tick) << "defect at " << at;
        } else {
          EXPECT_LE(rec[i].end_tick, want[i].end_tick) << "defect at " << at;
        }
      }
      for (std::size_t u = 0; u < t; ++u)
        EXPECT_EQ(keys(r->song.tracks[u].notes), keys(full->song.tracks[u].notes));
    }
  }
  EXPECT_GT(cases, 500u);
}

TEST(MidiRecoverProperty, ValidFilesReadTheSameInBothModes) {
  const fs::path src(MELODL_SOURCE_DIR);
  std::vector<fs::path> dirs = {src / "data" / "bach"};
  if (fs::is_directory(src / ".." / "shared" / "corpora"))
    dirs.push_back(src / ".." / "shared" / "corpora");
  std::size_t n = 0, extra = 0;
  for (const fs::path& dir : dirs)
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file() || e.path().extension() != ".mid") continue;
      const Bytes b = slurp(e.path());
      auto s = read_bytes(b, e.path().string(), ReadMode::strict);
      auto r = read_bytes(b, e.path().string(), ReadMode::recover);
      if (!s) continue;  // a file strict mode refuses is not valid
      ++n;
      ASSERT_TRUE(r.ok()) << e.path();
      // Recover mode also reads MTrk chunks beyond the header's count (strict: trailing bytes).
      ASSERT_GE(r->song.tracks.size(), s->song.tracks.size()) << e.path();
      if (r->song.tracks.size() > s->song.tracks.size()) {
        EXPECT_EQ(r->repairs.count(RepairKind::track_count), 1u) << e.path();
        EXPECT_EQ(s->repairs.count(RepairKind::trailing_bytes), 1u) << e.path();
        ++extra;
        continue;
      }
      for (std::size_t t = 0; t < s->song.tracks.size(); ++t)
        ASSERT_EQ(keys(r->song.tracks[t].notes), keys(s->song.tracks[t].notes)) << e.path();
      EXPECT_EQ(r->song.duration_s, s->song.duration_s) << e.path();
      EXPECT_EQ(r->repairs.total, s->repairs.total) << e.path();
    }
  EXPECT_GE(n, 105u);
  EXPECT_LE(extra, 3u);  // music21's test04.mid declares 18 tracks and holds 19
}

}  // namespace
}  // namespace melodl::midi
