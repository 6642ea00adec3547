// tests/cli/cli_common_test.cpp: unit tests of the melodl program's helpers
// (encode/melody_file, extract_run's split, fs_util, audio's WAV I/O).
// Run: ctest -R cli_common_test
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "base/error.h"
#include "base/files.h"
#include "encode/melody_file.h"
#include "examples/cli_error.h"
#include "midi/files.h"
#include "pipeline/audio.h"
#include "pipeline/extract_run.h"

namespace fs = std::filesystem;
using namespace melodl;
using namespace melodl::cli;
using namespace melodl::encode;
using namespace melodl::pipeline;
using melodl::midi::find_midi_files;

namespace {

fs::path scratch() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(MELODL_BINARY_DIR) / "cli-common-test-tmp" / info->name();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(CliMelodyFile, ProvenanceRoundTrip) {
  melodl::encode::ExtractedMelody m;
  m.track = 3;
  m.channel = 2;
  m.program = 41;
  m.voice = melodl::encode::Voice::bottom;
  m.start_pitch = 55;
  m.unit_ticks = 60;
  m.unit_seconds = 0.0625;
  const std::string c = provenance_comment(m, "dir with space/a b.mid");
  const MelodyMeta meta = parse_provenance(c);
  EXPECT_EQ(meta.track, 3);
  EXPECT_EQ(meta.channel, 2);
  EXPECT_EQ(meta.program, 41);
  EXPECT_EQ(meta.voice, "bottom");
  EXPECT_EQ(meta.start_pitch, 55);
  EXPECT_DOUBLE_EQ(meta.unit_ticks, 60.0);
  EXPECT_DOUBLE_EQ(meta.unit_s, 0.0625);
  EXPECT_EQ(meta.source, "dir with space/a b.mid");
}

TEST(CliMelodyFile, ParsesHeaderCommentsAndMelodl4jComments) {
  const auto f = parse_melody_file(
      "// melodl melodies format=melodl4j-v1 version=1\r\n"
      "\n"
      "// Track = trackIndex, Channel = 1, Instrument = 73, StartNote = 67, polyphony = 2\n"
      "lmn0l1l\n"
      "#@!lm\n"  // '#' is a v1 symbol: a melody line, not a comment
      "// an unrelated comment\n"
      "// track=0 program=5 start_pitch=61 source=x.mid\n"
      "// a free comment between the provenance and its melody\n"
      "abc\n");
  EXPECT_EQ(f.format, "melodl4j-v1");
  ASSERT_EQ(f.melodies.size(), 3u);
  EXPECT_EQ(f.melodies[0].text, "lmn0l1l");
  EXPECT_EQ(f.melodies[0].meta.program, 73);
  EXPECT_EQ(f.melodies[0].meta.start_pitch, 67);
  EXPECT_EQ(f.melodies[0].meta.channel, 1);
  EXPECT_EQ(f.melodies[0].line_number, 4u);
  EXPECT_EQ(f.melodies[1].text, "#@!lm");
  EXPECT_EQ(f.melodies[1].meta.program, -1) << "comment leaked to the next melody";
  EXPECT_EQ(f.melodies[2].meta.program, 5);
  EXPECT_EQ(f.melodies[2].meta.source, "x.mid");
}

std::vector<FileOutcome> outcomes(std::size_t n, std::size_t empty_every) {
  std::vector<FileOutcome> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i].source = "f" + std::to_string(i);
    v[i].ok = true;
    if (empty_every == 0 || i % empty_every != 0) {
      v[i].melodies = {"x"};
      v[i].comments = {"// x"};
    }
  }
  return v;
}

TEST(CliSplit, CountsSeedsAndSkipsFilesWithoutMelodies) {
  const auto o = outcomes(40, 4);  // 30 files with melodies
  const auto a = split_by_source(o, 0.2, 1);
  const auto b = split_by_source(o, 0.2, 1);
  const auto c = split_by_source(o, 0.2, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::size_t k = 0;
  for (std::size_t i = 0; i < o.size(); ++i) {
    if (a[i]) {
      ++k;
      EXPECT_FALSE(o[i].melodies.empty());
    }
  }
  EXPECT_EQ(k, 6u);
  EXPECT_EQ(split_by_source(o, 0.0, 1), std::vector<bool>(40, false));
  // Tiny inputs: at least one validation file, never all of them.
  const auto two = split_by_source(outcomes(2, 0), 0.01, 3);
  EXPECT_EQ(std::count(two.begin(), two.end(), true), 1);
  const auto one = split_by_source(outcomes(1, 0), 0.5, 3);
  EXPECT_EQ(std::count(one.begin(), one.end(), true), 0);
}

TEST(CliFsUtil, FindsMidiFilesRecursivelySortedCaseInsensitive) {
  const fs::path d = scratch();
  fs::create_directories(d / "b" / "c");
  for (const char* name : {"b/z.MID", "b/c/y.midi", "a.rmi", "b/k.Kar", "x.txt", "b/m.mid.bak"})
    std::ofstream(d / name) << "x";
  const auto files = find_midi_files({d.string(), (d / "a.rmi").string()});
  std::vector<std::string> rel;
  for (const auto& f : files) rel.push_back(fs::relative(f, d).generic_string());
  EXPECT_EQ(rel, (std::vector<std::string>{"a.rmi", "b/c/y.midi", "b/k.Kar", "b/z.MID"}));
  EXPECT_THROW(find_midi_files({(d / "nope").string()}), melodl::IoError);
}

TEST(CliFsUtil, AtomicWriteReplacesAndLeavesNoTemporaries) {
  const fs::path d = scratch();
  write_file_atomic(d / "sub" / "o.txt", "one");
  write_file_atomic(d / "sub" / "o.txt", "two");
  EXPECT_EQ(read_text_file(d / "sub" / "o.txt"), "two");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(d / "sub")) ++entries;
  EXPECT_EQ(entries, 1u);
  EXPECT_THROW(write_file_atomic(d / "sub", "x"), melodl::IoError);  // a directory
  EXPECT_EQ(with_stem_suffix("out/melodies.txt", "-valid"), fs::path("out/melodies-valid.txt"));
}

TEST(CliAudio, WavBytesRoundTrip) {
  Audio a;
  a.sample_rate = 22050;
  a.samples = {0, 1, -1, 32767, -32768, 1234};
  const fs::path d = scratch();
  const auto bytes = wav_bytes(a);
  ASSERT_EQ(bytes.size(), 44u + 12u);
  write_file_atomic(d / "a.wav", std::string(bytes.begin(), bytes.end()));
  const Audio b = read_wav(d / "a.wav");
  EXPECT_EQ(b.sample_rate, 22050);
  EXPECT_EQ(b.samples, a.samples);
  std::ofstream(d / "bad.wav") << "RIFF....WAVEjunk";
  EXPECT_THROW(read_wav(d / "bad.wav"), melodl::Error);
}

TEST(CliAudio, MissingSoundfontIsAClearError) {
  if (!audio_available()) GTEST_SKIP() << kNoAudioMessage;
  try {
    find_soundfont("/nonexistent/x.sf2");
    FAIL() << "no exception";
  } catch (const melodl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.sf2"), std::string::npos);
  }
}

}  // namespace
