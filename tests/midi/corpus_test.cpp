// tests/midi/corpus_test.cpp: the reader on real files. data/bach (bundled, always present)
// must match the facts python3-mido 1.2.10 recorded (tests/midi/data_bach_expected.tsv,
// copied from ../shared/corpora/MANIFEST.tsv); ../shared/corpora/parser-tests and the whole
// shared corpus (skipped when ../shared is absent) must load and agree with MANIFEST.tsv.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "midi/reader.h"

namespace melodl::midi {
namespace {

namespace fs = std::filesystem;

struct Expected {
  std::string path;
  int format = 0;
  int tracks = 0;
  int ticks_per_beat = 0;
  long note_ons = 0;
  double seconds = 0.0;
};

// Reads a TSV with a header line naming at least path, smf_format, tracks, ticks_per_beat,
// note_ons and seconds; lines starting with '#' are comments.
std::vector<Expected> read_table(const fs::path& file) {
  std::vector<Expected> rows;
  std::ifstream in(file);
  std::string line;
  std::vector<std::string> header;
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string cell;
    while (std::getline(ss, cell, '\t')) out.push_back(cell);
    return out;
  };
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto cells = split(line);
    if (header.empty()) {
      header = cells;
      continue;
    }
    Expected e;
    for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) {
      const std::string& h = header[i];
      const std::string& c = cells[i];
      if (h == "path")
        e.path = c;
      else if (h == "smf_format")
        e.format = std::stoi(c);
      else if (h == "tracks")
        e.tracks = std::stoi(c);
      else if (h == "ticks_per_beat")
        e.ticks_per_beat = std::stoi(c);
      else if (h == "note_ons")
        e.note_ons = std::stol(c);
      else if (h == "seconds")
        e.seconds = std::stod(c);
    }
    rows.push_back(e);
  }
  return rows;
}

// mido counts every note-on with velocity > 0; melodl drops notes that end on the tick they
// start (and pairs FIFO), so counts may fall short by a few, never exceed.
void expect_matches(const Song& s, const Expected& e, bool exact_notes) {
  EXPECT_EQ(s.format, e.format) << e.path;
  EXPECT_EQ(static_cast<int>(s.tracks.size()), e.tracks) << e.path;
  EXPECT_EQ(s.division.ppq, e.ticks_per_beat) << e.path;
  const long notes = static_cast<long>(s.note_count());
  if (exact_notes) {
    EXPECT_EQ(notes, e.note_ons) << e.path;
  } else {
    EXPECT_LE(notes, e.note_ons) << e.path;
    EXPECT_GE(notes, e.note_ons - e.note_ons / 100 - 1) << e.path;
  }
  EXPECT_NEAR(s.duration_s, e.seconds, 0.051) << e.path;  // manifest rounds to 0.1 s
}

TEST(MidiCorpus, BundledBachMatchesMidoFacts) {
  const fs::path root = MELODL_SOURCE_DIR;
  const auto rows = read_table(root / "tests" / "midi" / "data_bach_expected.tsv");
  ASSERT_EQ(rows.size(), 105u);
  long total = 0;
  for (const Expected& e : rows) {
    auto r = read_file(root / "data" / "bach" / e.path);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_TRUE(r->warnings.empty()) << e.path << ": " << r->warnings.front();
    expect_matches(*r, e, /*exact_notes=*/true);
    total += static_cast<long>(r->note_count());
  }
  EXPECT_GT(total, 80000);
}

fs::path shared_corpora() { return fs::path(MELODL_SOURCE_DIR) / ".." / "shared" / "corpora"; }

TEST(MidiCorpus, ParserTestFilesLoadAndMatchManifest) {
  const fs::path corpora = shared_corpora();
  if (!fs::is_regular_file(corpora / "MANIFEST.tsv"))
    GTEST_SKIP() << "../shared/corpora not present (fresh clone): parser-tests skipped";
  std::size_t seen = 0;
  for (const Expected& e : read_table(corpora / "MANIFEST.tsv")) {
    if (e.path.rfind("parser-tests/", 0) != 0) continue;
    ++seen;
    auto r = read_file(corpora / e.path);
    ASSERT_TRUE(r) << r.error().what();  // all parser-tests files are valid (mido strict)
    expect_matches(*r, e, /*exact_notes=*/false);
  }
  EXPECT_EQ(seen, 26u);
  // music21 test16 has one note-on whose note-off falls on the same tick: mido counts 3
  // note-ons, melodl keeps the 2 sounding notes.
  auto t16 = read_file(corpora / "parser-tests" / "music21" / "test16.mid");
  ASSERT_TRUE(t16) << t16.error().what();
  EXPECT_EQ(t16->note_count(), 2u);
}

TEST(MidiCorpus, WholeSharedCorpusLoadsAndMatchesManifest) {
  const fs::path corpora = shared_corpora();
  if (!fs::is_regular_file(corpora / "MANIFEST.tsv"))
    GTEST_SKIP() << "../shared/corpora not present (fresh clone): corpus check skipped";
  std::size_t seen = 0;
  for (const Expected& e : read_table(corpora / "MANIFEST.tsv")) {
    if (!fs::is_regular_file(corpora / e.path)) continue;  // held-out or local-only files
    ++seen;
    auto r = read_file(corpora / e.path);
    ASSERT_TRUE(r) << r.error().what();
    expect_matches(*r, e, /*exact_notes=*/false);
  }
  EXPECT_GT(seen, 3000u);
}

}  // namespace
}  // namespace melodl::midi
