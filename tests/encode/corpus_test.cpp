// tests/encode/corpus_test.cpp: extraction over the bundled corpus data/bach (105 files)
// with its exact counts: tracks, sequences, melodies kept, rejections per filter, rests,
// symbols, and an FNV-1a hash of every native line in extraction order.
//
// How the numbers were verified: tests/encode/mido_extract_check.py re-implements the
// extraction from docs/formats.md over python3-mido (its own MIDI parsing, v1's O(n^2)
// voice loop, the filters, float quantisation) and prints, for the three option sets
// below, exactly these numbers (run: python3 tests/encode/mido_extract_check.py data/bach
// [--no-drop | --bottom]). With --lines its 284 / 284 / 396 lines were also compared
// byte for byte with melodl's (sorted `cmp`): identical. The filter rejections agree too.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/melody.h"
#include "midi/reader.h"

namespace melodl::encode {
namespace {

namespace fs = std::filesystem;

struct CorpusRun {
  std::size_t files = 0;
  ExtractStats stats;
  std::size_t rests = 0, rests_index0 = 0, symbols = 0;
  std::uint64_t fnv = 0xCBF29CE484222325ull;
};

std::vector<std::string> corpus_files(const fs::path& root) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (e.is_regular_file() && ext == ".mid") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());  // plain string order, as the python check
  return files;
}

CorpusRun run(const ExtractOptions& opt) {
  CorpusRun r;
  const fs::path root = fs::path(MELODL_SOURCE_DIR) / "data" / "bach";
  for (const std::string& f : corpus_files(root)) {
    auto song = midi::read_file(f);
    EXPECT_TRUE(song.ok()) << (song.ok() ? "" : song.error().what());
    if (!song.ok()) continue;
    ++r.files;
    const ExtractResult res = extract_melodies(*song, opt);
    r.stats += res.stats;
    for (const ExtractedMelody& m : res.melodies) {
      for (const Step& s : m.symbols.steps) {
        r.rests += s.rest;
        r.rests_index0 += s.rest && s.duration == 0;
      }
      const std::string line = native_codec().encode(m.symbols) + "\n";
      r.symbols += line.size() - 1;
      for (unsigned char c : line) r.fnv = (r.fnv ^ c) * 0x100000001B3ull;
    }
  }
  return r;
}

void expect_rejected(const ExtractStats& s, std::array<std::size_t, 8> want) {
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(s.rejected[i], want[i]) << to_string(static_cast<Rejection>(i));
  }
}

class BachCorpus : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(fs::path(MELODL_SOURCE_DIR) / "data" / "bach")) {
      GTEST_SKIP() << "data/bach not found under " << MELODL_SOURCE_DIR;
    }
  }
};

TEST_F(BachCorpus, DefaultOptions) {
  const CorpusRun r = run({});
  EXPECT_EQ(r.files, 105u);
  EXPECT_EQ(r.stats.tracks, 488u);
  EXPECT_EQ(r.stats.sequences, 361u);
  EXPECT_EQ(r.stats.percussion_skipped, 0u);
  EXPECT_EQ(r.stats.kept, 284u);
  //               few  range  interval  rest  pitches  repet.  run  total-rest
  expect_rejected(r.stats, {3, 0, 73, 1, 0, 0, 0, 0});
  EXPECT_EQ(r.rests, 2636u);
  EXPECT_EQ(r.rests_index0, 0u);  // drop_short_rests: no noise rests left
  EXPECT_EQ(r.symbols, 105788u);
  EXPECT_EQ(r.fnv, 0xa2be07542ea31833ull);
}

TEST_F(BachCorpus, V1Rests) {
  ExtractOptions opt;
  opt.drop_short_rests = false;
  const CorpusRun r = run(opt);
  EXPECT_EQ(r.stats.kept, 284u);  // the filters do not depend on the rest rule
  expect_rejected(r.stats, {3, 0, 73, 1, 0, 0, 0, 0});
  EXPECT_EQ(r.rests, 2801u);
  EXPECT_EQ(r.rests_index0, 165u);
  EXPECT_EQ(r.symbols, 106118u);
  EXPECT_EQ(r.fnv, 0xc3fc003a3c13652eull);
}

TEST_F(BachCorpus, TopAndBottomVoices) {
  ExtractOptions opt;
  opt.bottom = true;
  const CorpusRun r = run(opt);
  EXPECT_EQ(r.stats.sequences, 516u);  // 361 top + 155 polyphonic sequences' bottom voices
  EXPECT_EQ(r.stats.kept, 396u);
  expect_rejected(r.stats, {3, 0, 114, 1, 0, 2, 0, 0});
  EXPECT_EQ(r.rests, 4370u);
  EXPECT_EQ(r.symbols, 156334u);
  EXPECT_EQ(r.fnv, 0xb46fc857f1d2e9c0ull);
}

}  // namespace
}  // namespace melodl::encode
