// tests/cli/cli_test.cpp: end-to-end tests of the `melodl` program (extract, render):
// runs the built binary on a few files of data/bach and on bad inputs, and checks its
// outputs with the library (midi::read_file, the codecs, the WAV reader).
// Run: ctest -R cli_test  (or build/tests/cli/cli_test)
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "base/files.h"
#include "encode/codec.h"
#include "encode/melody_file.h"
#include "midi/files.h"
#include "midi/reader.h"
#include "pipeline/audio.h"
#include "pipeline/repair_report.h"
#include "tests/pipeline/damaged_midi.h"

namespace fs = std::filesystem;

namespace {

struct RunResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

RunResult run_melodl(const std::vector<std::string>& args) {
  std::string cmd = quote(MELODL_CLI_BINARY);
  for (const auto& a : args) {
    cmd += ' ';  // += only: GCC 12 reports a false -Wrestrict on `" " + std::string`
    cmd += quote(a);
  }
  cmd += " 2>&1";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

fs::path bach_dir() { return fs::path(MELODL_SOURCE_DIR) / "data" / "bach"; }

// The first n MIDI files of data/bach (sorted), as the program would list them.
std::vector<fs::path> bach_files(std::size_t n) {
  auto all = melodl::midi::find_midi_files({bach_dir().string()});
  if (all.size() > n) all.resize(n);
  return all;
}

// A fresh scratch directory per test.
fs::path scratch() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(MELODL_BINARY_DIR) / "cli-test-tmp" / info->name();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& p) { return melodl::read_text_file(p); }

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }

std::set<std::string> sources_of(const melodl::encode::MelodyFile& f) {
  std::set<std::string> s;
  for (const auto& m : f.melodies) s.insert(m.meta.source);
  return s;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(bach_dir())) GTEST_SKIP() << "data/bach missing";
    dir_ = scratch();
  }
  fs::path dir_;
};

TEST_F(CliTest, HelpListsSubcommandsAndEveryFlagWithDefaults) {
  RunResult top = run_melodl({"--help"});
  EXPECT_EQ(top.code, 0);
  EXPECT_NE(top.output.find("extract"), std::string::npos);
  EXPECT_NE(top.output.find("render"), std::string::npos);
  RunResult ex = run_melodl({"extract", "--help"});
  EXPECT_EQ(ex.code, 0);
  for (const char* flag :
       {"--min-notes", "--max-interval", "--max-longest-rest", "--min-pitches",
        "--max-repeat-fraction", "--max-repeat-run", "--max-total-rest", "--voices", "--format",
        "--keep-short-rests", "--keep-percussion", "--valid-fraction", "--seed", "--report",
        "--quiet", "--strict", "--verbose"})
    EXPECT_NE(ex.output.find(flag), std::string::npos) << flag;
  EXPECT_NE(ex.output.find("=11"), std::string::npos) << "min-notes default not shown";
  RunResult re = run_melodl({"render", "--help"});
  EXPECT_EQ(re.code, 0);
  for (const char* flag : {"--tempo", "--program", "--start-pitch", "--unit-ticks", "--limit",
                           "--wav", "--soundfont", "--format"})
    EXPECT_NE(re.output.find(flag), std::string::npos) << flag;
  RunResult v = run_melodl({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.output.find("melodl"), std::string::npos);
}

TEST_F(CliTest, ExtractWritesMelodiesAndReport) {
  std::vector<std::string> args = {"extract"};
  const auto files = bach_files(5);
  ASSERT_EQ(files.size(), 5u);
  for (const auto& f : files) args.push_back(f.string());
  args.insert(args.end(),
              {"-o", (dir_ / "m.txt").string(), "--report", (dir_ / "r.json").string(), "--quiet"});
  RunResult r = run_melodl(args);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "") << "--quiet must print nothing on success";

  const std::string text = slurp(dir_ / "m.txt");
  EXPECT_EQ(text.rfind("// melodl melodies format=native version=1\n", 0), 0u);
  const auto mf = melodl::encode::parse_melody_file(text);
  EXPECT_EQ(mf.format, "native");
  ASSERT_GT(mf.melodies.size(), 0u);
  for (const auto& m : mf.melodies) {
    EXPECT_FALSE(m.meta.source.empty()) << "line " << m.line_number;
    EXPECT_GE(m.meta.start_pitch, 0);
    EXPECT_GE(m.meta.program, 0);
    const auto dec = melodl::encode::native_codec().decode(m.text);
    EXPECT_EQ(dec.skipped, 0u) << "extracted melody does not decode cleanly: " << m.text;
    EXPECT_GE(dec.melody.steps.size(), 11u);
  }

  const auto rep = read_json(dir_ / "r.json");
  const auto& t = rep["totals"];
  EXPECT_EQ(t["files"], 5);
  EXPECT_EQ(t["files_read"], 5);
  EXPECT_EQ(t["files_failed"], 0);
  EXPECT_EQ(t["melodies_kept"].get<std::size_t>(), mf.melodies.size());
  EXPECT_GT(t["tracks"].get<int>(), 0);
  // sequences = kept + rejected; per-file counts add up to the totals.
  std::size_t rejected = 0;
  for (const auto& [reason, n] : t["rejected"].items()) rejected += n.get<std::size_t>();
  EXPECT_EQ(t["sequences"].get<std::size_t>(), t["melodies_kept"].get<std::size_t>() + rejected);
  ASSERT_EQ(rep["files"].size(), 5u);
  std::size_t kept = 0;
  for (const auto& f : rep["files"]) kept += f["melodies_kept"].get<std::size_t>();
  EXPECT_EQ(kept, mf.melodies.size());
  EXPECT_TRUE(t["rejected"].contains("interval_too_large"));
}

TEST_F(CliTest, ExtractIsDeterministicAcrossThreadCounts) {
  const std::string in = (bach_dir() / "mutopia-keyboard").string();
  ASSERT_EQ(run_melodl({"extract", in, "-o", (dir_ / "a.txt").string(), "-j", "1", "-q"}).code, 0);
  ASSERT_EQ(run_melodl({"extract", in, "-o", (dir_ / "b.txt").string(), "-j", "3", "-q"}).code, 0);
  EXPECT_EQ(slurp(dir_ / "a.txt"), slurp(dir_ / "b.txt"));
}

TEST_F(CliTest, SplitBySourceFileIsDisjointAndSeeded) {
  const std::string in = bach_dir().string();
  auto split = [&](const std::string& tag, const std::string& seed) {
    RunResult r =
        run_melodl({"extract", in, "-o", (dir_ / (tag + ".txt")).string(), "--valid-fraction",
                    "0.2", "--seed", seed, "--report", (dir_ / (tag + ".json")).string(), "-q"});
    EXPECT_EQ(r.code, 0) << r.output;
  };
  split("a", "7");
  split("b", "7");
  split("c", "8");
  const auto train = melodl::encode::read_melody_file(dir_ / "a.txt");
  const auto valid = melodl::encode::read_melody_file(dir_ / "a-valid.txt");
  ASSERT_FALSE(train.melodies.empty());
  ASSERT_FALSE(valid.melodies.empty());
  const auto ts = sources_of(train), vs = sources_of(valid);
  for (const auto& s : vs) EXPECT_EQ(ts.count(s), 0u) << s << " is on both sides";
  // 20% of the files with melodies, rounded.
  const std::size_t n = ts.size() + vs.size();
  EXPECT_EQ(vs.size(), static_cast<std::size_t>(std::llround(0.2 * static_cast<double>(n))));
  EXPECT_EQ(slurp(dir_ / "a.txt"), slurp(dir_ / "b.txt"));
  EXPECT_EQ(slurp(dir_ / "a-valid.txt"), slurp(dir_ / "b-valid.txt"));
  EXPECT_NE(slurp(dir_ / "a-valid.txt"), slurp(dir_ / "c-valid.txt")) << "seed has no effect";
  const auto rep = read_json(dir_ / "a.json");
  EXPECT_EQ(rep["outputs"]["valid_files"].get<std::size_t>(), vs.size());
  EXPECT_EQ(rep["outputs"]["valid_count"].get<std::size_t>(), valid.melodies.size());
}

TEST_F(CliTest, MissingInputFailsNamingThePath) {
  const std::string missing = (dir_ / "no-such-dir").string();
  RunResult r = run_melodl({"extract", missing, "-o", (dir_ / "m.txt").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find(missing), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("melodl extract: error:"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "m.txt"));
  RunResult dir = run_melodl({"render", dir_.string(), "-o", (dir_ / "o").string()});
  EXPECT_EQ(dir.code, 1);
  EXPECT_NE(dir.output.find("is a directory"), std::string::npos) << dir.output;
}

TEST_F(CliTest, DirectoryWithoutMidiFilesFails) {
  fs::create_directories(dir_ / "empty");
  std::ofstream(dir_ / "empty" / "notes.txt") << "not midi";
  RunResult r = run_melodl({"extract", (dir_ / "empty").string(), "-o", (dir_ / "m.txt").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find((dir_ / "empty").string()), std::string::npos) << r.output;
}

TEST_F(CliTest, UnwritableOutputFailsBeforeWork) {
  std::ofstream(dir_ / "afile") << "x";
  const std::string out = (dir_ / "afile" / "m.txt").string();
  RunResult r = run_melodl({"extract", bach_files(1)[0].string(), "-o", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find(out), std::string::npos) << r.output;
}

TEST_F(CliTest, BadUsageExitsWithTwo) {
  EXPECT_EQ(run_melodl({"extract", bach_dir().string(), "--voices", "middle"}).code, 2);
  EXPECT_EQ(run_melodl({"extract", bach_dir().string(), "--no-such-flag"}).code, 2);
  EXPECT_EQ(run_melodl({"extract"}).code, 2);
  EXPECT_EQ(run_melodl({}).code, 2);
  EXPECT_EQ(run_melodl({"no-such-command"}).code, 2);
}

TEST_F(CliTest, MalformedMidiIsReportedAndSkipped) {
  const fs::path in = dir_ / "in";
  fs::create_directories(in);
  for (const auto& f : bach_files(3)) fs::copy_file(f, in / f.filename());
  // A header chunk, then a track chunk that claims more bytes than the file has.
  std::ofstream(in / "broken.MID", std::ios::binary)
      << std::string("MThd\0\0\0\6\0\1\0\1\1\xe0MTrk\0\0\1\0\0\x90", 24);
  std::ofstream(in / "html.mid") << "<html><body>404 Not Found</body></html>";
  std::ofstream(in / "readme.txt") << "ignored: not a MIDI extension";
  // --strict: both refused, as before recovery.
  RunResult r = run_melodl({"extract", in.string(), "-o", (dir_ / "m.txt").string(), "--report",
                            (dir_ / "r.json").string(), "--strict"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("broken.MID"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("html.mid"), std::string::npos) << r.output;
  const auto rep = read_json(dir_ / "r.json");
  EXPECT_EQ(rep["totals"]["files"], 5);
  EXPECT_EQ(rep["totals"]["files_read"], 3);
  EXPECT_EQ(rep["totals"]["files_failed"], 2);
  ASSERT_EQ(rep["failed"].size(), 2u);
  std::set<std::string> failed;
  for (const auto& f : rep["failed"]) {
    failed.insert(fs::path(f["source"].get<std::string>()).filename().string());
    EXPECT_FALSE(f["error"].get<std::string>().empty());
  }
  EXPECT_EQ(failed, (std::set<std::string>{"broken.MID", "html.mid"}));
  EXPECT_FALSE(melodl::encode::read_melody_file(dir_ / "m.txt").melodies.empty());

  // By default the cut track is recovered (no note in it); the HTML page is still no MIDI.
  r = run_melodl({"extract", in.string(), "-o", (dir_ / "m.txt").string(), "--report",
                  (dir_ / "r.json").string()});
  ASSERT_EQ(r.code, 0) << r.output;
  const auto rec = read_json(dir_ / "r.json");
  EXPECT_EQ(rec["totals"]["files_read"], 4);
  EXPECT_EQ(rec["totals"]["files_failed"], 1);
  EXPECT_EQ(rec["totals"]["files_repaired"], 1);
  ASSERT_EQ(rec["failed"].size(), 1u);
  EXPECT_EQ(fs::path(rec["failed"][0]["source"].get<std::string>()).filename(), "html.mid");

  // Nothing readable at all is an error, with the reason, even with --quiet.
  RunResult only =
      run_melodl({"extract", (in / "html.mid").string(), "-o", (dir_ / "none.txt").string(), "-q"});
  EXPECT_EQ(only.code, 1);
  EXPECT_NE(only.output.find("html.mid"), std::string::npos) << only.output;
}

// Damaged copies of a valid file (tests/pipeline/damaged_midi.h) in one folder with it.
class CliDamagedTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    in_ = dir_ / "in";
    damaged_ = melodl::damaged_midi::write_damaged_files(in_);
    for (const auto& d : damaged_) {
      auto r = melodl::midi::read_file(in_ / d.name, melodl::midi::ReadMode::recover);
      ASSERT_TRUE(r.ok()) << r.error().what();
      repairs_[d.name] = r->repairs;
      total_ += r->repairs.total;
    }
  }
  RunResult extract(std::vector<std::string> flags) {
    std::vector<std::string> args = {"extract",  in_.string(),
                                     "-o",       (dir_ / "m.txt").string(),
                                     "--report", (dir_ / "r.json").string(),
                                     "-j",       "1"};
    args.insert(args.end(), flags.begin(), flags.end());
    return run_melodl(args);
  }
  fs::path in_;
  std::vector<melodl::damaged_midi::Damaged> damaged_;
  std::map<std::string, melodl::midi::Repairs> repairs_;
  std::size_t total_ = 0;
};

TEST_F(CliDamagedTest, ExtractRecoversDamagedFilesByDefault) {
  const RunResult r = extract({});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("melodl extract: 7 files, 7 read, 6 recovered (" +
                          std::to_string(total_) + " repairs), 0 failed ("),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("warning:"), std::string::npos) << "warnings only with -v";
  // Every damaged file gave its melody, with the notes recovery keeps.
  const auto mf = melodl::encode::read_melody_file(dir_ / "m.txt");
  std::set<std::string> sources;
  for (const auto& s : sources_of(mf)) sources.insert(fs::path(s).filename().string());
  const auto rep = read_json(dir_ / "r.json");
  EXPECT_EQ(rep["read_mode"], "recover");
  EXPECT_EQ(rep["totals"]["files_repaired"], 6);
  EXPECT_EQ(rep["totals"]["repairs"], total_);
  std::map<std::string, nlohmann::json> files;
  for (const auto& f : rep["files"]) files[fs::path(f["source"].get<std::string>()).filename()] = f;
  for (const auto& d : damaged_) {
    SCOPED_TRACE(d.name);
    EXPECT_EQ(sources.count(d.name), 1u);
    const auto& f = files.at(d.name);
    EXPECT_EQ(f["ok"], true);
    EXPECT_EQ(f["notes"], d.notes);
    EXPECT_EQ(f["melodies_kept"], 1);
    EXPECT_EQ(f["repairs"], nlohmann::json(repairs_.at(d.name)));
    EXPECT_EQ(f["repairs"]["items"][0]["kind"], d.kind);
  }
  EXPECT_EQ(files.at("valid.mid")["repairs"]["total"], 0);
}

TEST_F(CliDamagedTest, StrictRefusesDamagedFilesWithTheOldMessage) {
  const RunResult r = extract({"--strict"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("melodl extract: 7 files, 4 read, 3 failed ("), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("recovered"), std::string::npos) << r.output;
  std::size_t refused = 0;
  for (const auto& d : damaged_) {
    if (d.strict_reads) continue;
    ++refused;
    const auto old = melodl::midi::read_file(in_ / d.name);
    ASSERT_FALSE(old.ok()) << d.name;
    EXPECT_NE(r.output.find(std::string("  failed: ") + old.error().what() + "\n"),
              std::string::npos)
        << r.output;
  }
  EXPECT_EQ(refused, 3u);
  // The messages as melodl printed them before recovery existed.
  const std::string g = (in_ / "garbage-prefix.mid").string();
  EXPECT_NE(
      r.output.find("  failed: " + g + ": offset 0: not a Standard MIDI File (no MThd header)"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("undefined-status.mid: offset 101: status byte 0xF4 is not allowed in a "
                          "MIDI file"),
            std::string::npos)
      << r.output;
  const auto rep = read_json(dir_ / "r.json");
  EXPECT_EQ(rep["read_mode"], "strict");
  EXPECT_EQ(rep["totals"]["files_failed"], 3);
  EXPECT_EQ(melodl::encode::read_melody_file(dir_ / "m.txt").melodies.size(), 4u);
}

TEST_F(CliDamagedTest, VerbosePrintsAWarningPerRepair) {
  const RunResult r = extract({"-v", "-q"});
  ASSERT_EQ(r.code, 0) << r.output;
  std::size_t lines = 0;
  for (std::size_t at = r.output.find("melodl extract: warning: "); at != std::string::npos;
       at = r.output.find("melodl extract: warning: ", at + 1))
    ++lines;
  EXPECT_EQ(lines, total_) << r.output;
  for (const auto& [name, repairs] : repairs_)
    for (const auto& line : melodl::pipeline::repair_warnings((in_ / name).string(), repairs))
      EXPECT_NE(r.output.find("melodl extract: warning: " + line + "\n"), std::string::npos)
          << line << "\n"
          << r.output;
  EXPECT_NE(r.output.find("garbage-prefix.mid: offset 0: 32 bytes before MThd skipped "
                          "(leading_garbage)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("melodl extract: 7 files"), std::string::npos) << "-q: no summary";
}

TEST_F(CliTest, RenderWritesOneLoadableMidiPerMelody) {
  const auto files = bach_files(5);
  std::vector<std::string> args = {"extract"};
  for (const auto& f : files) args.push_back(f.string());
  args.insert(args.end(), {"-o", (dir_ / "m.txt").string(), "-q"});
  ASSERT_EQ(run_melodl(args).code, 0);
  const auto mf = melodl::encode::read_melody_file(dir_ / "m.txt");
  ASSERT_GT(mf.melodies.size(), 0u);

  RunResult r = run_melodl({"render", (dir_ / "m.txt").string(), "-o", (dir_ / "midi").string()});
  ASSERT_EQ(r.code, 0) << r.output;
  std::size_t mids = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "midi"))
    mids += e.path().extension() == ".mid";
  EXPECT_EQ(mids, mf.melodies.size());
  for (std::size_t i = 0; i < mf.melodies.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "melody-%04zu.mid", i + 1);
    auto song = melodl::midi::read_file(dir_ / "midi" / name);
    ASSERT_TRUE(song.ok()) << song.error().what();
    const auto dec = melodl::encode::native_codec().decode(mf.melodies[i].text);
    const auto notes = std::count_if(dec.melody.steps.begin(), dec.melody.steps.end(),
                                     [](auto& s) { return !s.rest; });
    EXPECT_EQ(song->note_count(), static_cast<std::size_t>(notes)) << name;
    // Instrument and start pitch come from the provenance comment.
    const auto& meta = mf.melodies[i].meta;
    bool found_program = false;
    for (const auto& tr : song->tracks)
      for (const auto& pc : tr.programs) found_program |= pc.program == meta.program;
    EXPECT_TRUE(found_program) << name << " lacks program " << meta.program;
    for (const auto& tr : song->tracks) {
      if (!tr.notes.empty() && meta.start_pitch >= 36 && meta.start_pitch <= 96) {
        EXPECT_EQ(tr.notes.front().pitch, meta.start_pitch) << name;
      }
    }
  }
}

TEST_F(CliTest, RenderFlagsOverrideCommentsAndLimit) {
  const fs::path in = dir_ / "m.txt";
  // A MELODL4J-style comment; the flags must win over it.
  std::ofstream(in) << "// melodl melodies format=native version=1\n"
                       "// Track = trackIndex, Channel = 0, Instrument = 40, StartNote = 70\n"
                    << "<8O8N8M8>\n<8L8>\n";  // notes +0 +2 +1 +0
  RunResult r = run_melodl({"render", in.string(), "-o", (dir_ / "out").string(), "--program", "19",
                            "--start-pitch", "50", "--limit", "1"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "melody-0001.mid"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "melody-0002.mid")) << "--limit 1 ignored";
  auto song = melodl::midi::read_file(dir_ / "out" / "melody-0001.mid");
  ASSERT_TRUE(song.ok()) << song.error().what();
  ASSERT_EQ(song->note_count(), 4u);
  for (const auto& tr : song->tracks) {
    if (tr.notes.empty()) continue;
    EXPECT_EQ(tr.notes[0].pitch, 50);
    EXPECT_EQ(tr.notes[1].pitch, 52);
    ASSERT_FALSE(tr.programs.empty());
    EXPECT_EQ(tr.programs[0].program, 19);
  }
  // Without flags, the MELODL4J comment gives instrument 40 and start note 70.
  ASSERT_EQ(run_melodl({"render", in.string(), "-o", (dir_ / "out2").string(), "-q"}).code, 0);
  auto song2 = melodl::midi::read_file(dir_ / "out2" / "melody-0001.mid");
  ASSERT_TRUE(song2.ok());
  for (const auto& tr : song2->tracks) {
    if (tr.notes.empty()) continue;
    EXPECT_EQ(tr.notes[0].pitch, 70);
    EXPECT_EQ(tr.programs.at(0).program, 40);
  }
}

TEST_F(CliTest, RenderSkipsInvalidSymbolsAndRejectsGarbage) {
  const fs::path in = dir_ / "m.txt";
  std::ofstream(in) << "<8O8~~N8M8>\n";  // 4 notes, 2 invalid chars
  RunResult r = run_melodl({"render", in.string(), "-o", (dir_ / "out").string()});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("skipped 2 invalid symbols in 1 melodies"), std::string::npos)
      << r.output;
  auto song = melodl::midi::read_file(dir_ / "out" / "melody-0001.mid");
  ASSERT_TRUE(song.ok());
  EXPECT_EQ(song->note_count(), 4u);

  std::ofstream(dir_ / "garbage.txt") << "~~~~\n";
  RunResult g =
      run_melodl({"render", (dir_ / "garbage.txt").string(), "-o", (dir_ / "g").string()});
  EXPECT_EQ(g.code, 1);
  EXPECT_NE(g.output.find("garbage.txt"), std::string::npos) << g.output;
  RunResult m =
      run_melodl({"render", (dir_ / "missing.txt").string(), "-o", (dir_ / "g").string()});
  EXPECT_EQ(m.code, 1);
  EXPECT_NE(m.output.find("missing.txt"), std::string::npos) << m.output;
}

TEST_F(CliTest, RenderWavIsAudible) {
  if (!melodl::pipeline::audio_available()) {
    // A build without fluidsynth: --wav must fail with the reason instead.
    std::ofstream(dir_ / "m.txt") << "<8O8N8M8>\n";
    RunResult r =
        run_melodl({"render", (dir_ / "m.txt").string(), "-o", (dir_ / "out").string(), "--wav"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.output.find(melodl::pipeline::kNoAudioMessage), std::string::npos) << r.output;
    GTEST_SKIP() << melodl::pipeline::kNoAudioMessage;
  }
  try {
    melodl::pipeline::find_soundfont();
  } catch (const std::exception& e) {
    GTEST_SKIP() << "no soundfont installed (" << e.what() << ")";
  }
  const fs::path in = dir_ / "m.txt";
  std::ofstream(in) << "// track=1 channel=0 program=0 voice=top start_pitch=60 source=x.mid\n"
                       "<8O8O8N8P8O8L8K8M8>\n";
  RunResult r = run_melodl(
      {"render", in.string(), "-o", (dir_ / "out").string(), "--wav", "--wav-seconds", "4"});
  ASSERT_EQ(r.code, 0) << r.output;
  const auto audio = melodl::pipeline::read_wav(dir_ / "out" / "melody-0001.wav");
  EXPECT_EQ(audio.sample_rate, 44100);
  // 9 quarter notes at 100 bpm = 5.4 s, cut at 4 s.
  EXPECT_EQ(audio.frames(), 4u * 44100u);
  int peak = 0;
  for (auto s : audio.samples) peak = std::max(peak, std::abs(static_cast<int>(s)));
  EXPECT_GT(peak, 1000) << "WAV is (nearly) silent";
  EXPECT_EQ(r.output.find("fluidsynth:"), std::string::npos) << "fluidsynth logging leaked";
}

TEST_F(CliTest, RenderWavWithMissingSoundfontNamesIt) {
  if (!melodl::pipeline::audio_available()) GTEST_SKIP() << melodl::pipeline::kNoAudioMessage;
  const fs::path in = dir_ / "m.txt";
  std::ofstream(in) << "<8O8N8M8>\n";
  const std::string sf = (dir_ / "none.sf2").string();
  RunResult r = run_melodl(
      {"render", in.string(), "-o", (dir_ / "out").string(), "--wav", "--soundfont", sf});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find(sf), std::string::npos) << r.output;
}

}  // namespace

// Numeric flags are checked where they are parsed (issue 14: these were accepted and either
// changed meaning or were stored and written differently).
TEST_F(CliTest, OutOfRangeNumbersAreRefusedWithTheFlagNamed) {
  const std::string data = bach_dir().string();
  const std::string run = (dir_ / "run").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"compose", run, "--tempo", "0"}, "--tempo"},
      {{"compose", run, "--tempo", "-50"}, "--tempo"},
      {{"compose", run, "--tempo", "nan"}, "not a finite number"},
      {{"render", data, "--tempo", "nan"}, "not a finite number"},
      {{"train", data, "--program", "200", "--run-dir", run}, "--program"},
      {{"train", data, "--tbptt", "0", "--run-dir", run}, "--tbptt: lengths must be >= 1"},
      {{"train", data, "--tbptt", "50/0", "--run-dir", run}, "--tbptt: lengths must be >= 1"},
      {{"train", data, "--time-budget", "0", "--run-dir", run}, "--time-budget must be > 0"},
  };
  for (const auto& [args, expected] : cases) {
    const RunResult r = run_melodl(args);
    EXPECT_EQ(r.code, 2) << args[0] << " " << args[2] << " " << args[3] << ": " << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir_ / "run")) << "a refused run must not create its directory";
}
