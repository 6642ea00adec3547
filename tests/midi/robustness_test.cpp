// tests/midi/robustness_test.cpp: the reader on hostile bytes, in the normal (unsanitised)
// build. Replays every input the fuzzer ever crashed on (tests/fuzz/regressions/) and the
// fuzz seeds (tests/fuzz/seeds/), then every prefix and seeded random mutations of a real
// file, in strict and recover mode: each read must end in a Song or a LoadError that names
// the input, never a crash; recover mode must read whatever strict mode reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
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

void check_song(const Song& s, const std::string& name) {
  ASSERT_FALSE(s.tempo_map.empty()) << name;
  EXPECT_EQ(s.tempo_map.front().tick, 0) << name;
  for (const Track& t : s.tracks)
    for (const Note& n : t.notes) {
      ASSERT_LT(n.start_tick, n.end_tick) << name;
      ASSERT_LE(n.end_tick, t.end_tick) << name;
      ASSERT_LT(n.channel, 16) << name;
      ASSERT_LT(n.pitch, 128) << name;
    }
}

// A read must give a Song or a LoadError naming the input, in both modes; checks basic Song
// invariants. Recover mode reads whatever strict mode reads.
void check_read(std::span<const std::uint8_t> bytes, const std::string& name) {
  ReadLimits limits;
  limits.max_events = 2'000'000;
  bool strict_ok = false;
  for (ReadMode mode : {ReadMode::strict, ReadMode::recover}) {
    auto r = read_bytes(bytes, name, mode, limits);
    if (mode == ReadMode::strict) strict_ok = r.ok();
    if (strict_ok) {
      EXPECT_TRUE(r.ok()) << name << ": recover mode refuses what strict mode reads";
    }
    if (!r) {
      EXPECT_EQ(r.error().file(), name);
      EXPECT_LE(r.error().offset(), static_cast<std::int64_t>(bytes.size()));
      EXPECT_FALSE(r.error().problem().empty());
      continue;
    }
    check_song(r->song, name);
  }
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(MidiRobustness, FuzzRegressionsAndSeedsReplay) {
  const fs::path fuzz = fs::path(MELODL_SOURCE_DIR) / "tests" / "fuzz";
  std::size_t n = 0;
  for (const char* sub : {"regressions", "seeds"})
    for (const fs::path& p : files_in(fuzz / sub)) {
      const Bytes b = slurp(p);
      check_read(b, p.filename().string());
      // read_file takes the same path as read_bytes.
      auto r = read_file(p);
      auto m = read_bytes(b, p.string());
      EXPECT_EQ(r.ok(), m.ok()) << p;
      ++n;
    }
  EXPECT_GE(n, 5u) << "tests/fuzz/seeds should hold the committed seeds";
}

TEST(MidiRobustness, EveryPrefixOfARealFile) {
  const fs::path file = fs::path(MELODL_SOURCE_DIR) / "data" / "bach" / "mutopia-keyboard" /
                        "BWV772__bach-invention-01.mid";
  const Bytes b = slurp(file);
  ASSERT_GT(b.size(), 1000u);
  std::size_t errors = 0;
  for (std::size_t len = 0; len <= b.size(); ++len) {
    auto r = read_bytes(std::span(b.data(), len), "prefix");
    if (!r)
      ++errors;
    else
      check_read(std::span(b.data(), len), "prefix");
  }
  EXPECT_GT(errors, 0u);                     // most prefixes cut an MTrk chunk: errors
  EXPECT_TRUE(read_bytes(b, "whole").ok());  // the whole file reads
}

TEST(MidiRobustness, SeededRandomMutations) {
  const fs::path file = fs::path(MELODL_SOURCE_DIR) / "data" / "bach" / "mutopia-keyboard" /
                        "BWV773__bach-invention-02.mid";
  const Bytes orig = slurp(file);
  ASSERT_FALSE(orig.empty());
  std::mt19937 rng(12345);
  std::size_t ok = 0, err = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Bytes b = orig;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0:
          b[at] = static_cast<std::uint8_t>(rng());
          break;  // overwrite
        case 1:
          b[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
          break;  // bit flip
        case 2:
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), 0xFF);
          break;
        default:
          if (b.size() > 20) b.erase(b.begin() + static_cast<std::ptrdiff_t>(at));
      }
    }
    auto r = read_bytes(b, "mutant");
    (r ? ok : err)++;
    check_read(b, "mutant");
  }
  EXPECT_GT(ok + err, 0u);
  RecordProperty("ok", static_cast<int>(ok));
  RecordProperty("errors", static_cast<int>(err));
}

}  // namespace
}  // namespace melodl::midi
