// tests/pipeline/extract_recover_test.cpp: damaged MIDI files in the pipeline (issue 17):
// extraction and training inputs recover them by default (the notes the reader keeps, every
// repair counted) and refuse them in strict mode with the reader's message; the JSON of the
// repairs in the extraction report, field by field; the warning lines of `-v`; config.json's
// strict_midi; `melodl train` and `melodl eval` on damaged MIDI in both modes. The damaged
// files are made from a valid one (tests/pipeline/damaged_midi.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/files.h"
#include "encode/codec.h"
#include "encode/melody_file.h"
#include "midi/files.h"
#include "pipeline/corpus_inputs.h"
#include "pipeline/extract_job.h"
#include "pipeline/repair_report.h"
#include "pipeline/run_config.h"
#include "tests/pipeline/damaged_midi.h"
#include "tests/pipeline/train_test_util.h"

namespace pl = melodl::pipeline;
namespace midi = melodl::midi;
namespace dm = melodl::damaged_midi;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The damaged files and valid.mid in a fresh directory; the files as extraction lists them.
struct Inputs {
  fs::path dir;
  std::vector<dm::Damaged> damaged;
  std::vector<fs::path> files;
};

Inputs make_inputs(const std::string& name) {
  Inputs in;
  in.dir = melodl::train_test::temp_dir(name) / "in";
  in.damaged = dm::write_damaged_files(in.dir);
  in.files = midi::find_midi_files({in.dir.string()});
  return in;
}

std::string name_of(const std::string& source) { return fs::path(source).filename().string(); }

template <class Outcome>
std::map<std::string, Outcome> by_name(const std::vector<Outcome>& outcomes) {
  std::map<std::string, Outcome> m;
  for (const auto& o : outcomes) m[name_of(o.source)] = o;
  return m;
}

midi::ReadReport recovered(const fs::path& path) {
  auto r = midi::read_file(path, midi::ReadMode::recover);
  EXPECT_TRUE(r.ok()) << r.error().what();
  return std::move(r).value();
}

}  // namespace

TEST(ExtractRecover, DamagedFilesAreRecoveredByDefaultAndRefusedInStrictMode) {
  const Inputs in = make_inputs("extract-modes");
  ASSERT_EQ(in.files.size(), in.damaged.size() + 1);
  const auto& codec = melodl::encode::native_codec();
  const auto rec = by_name(pl::extract_files(in.files, {}, codec, 1));
  const auto strict =
      by_name(pl::extract_files(in.files, {}, codec, 1, {}, midi::ReadMode::strict));
  const pl::FileOutcome& valid = rec.at("valid.mid");
  ASSERT_TRUE(valid.ok);
  EXPECT_TRUE(valid.repairs.empty());
  EXPECT_EQ(valid.notes, dm::kNotes);
  ASSERT_EQ(valid.melodies.size(), 1u);
  for (const auto& d : in.damaged) {
    SCOPED_TRACE(d.name);
    const fs::path path = in.dir / d.name;
    const pl::FileOutcome& o = rec.at(d.name);
    ASSERT_TRUE(o.ok) << o.error;
    EXPECT_EQ(o.notes, d.notes);
    ASSERT_EQ(o.melodies.size(), 1u) << "the recovered notes give a melody";
    ASSERT_FALSE(o.repairs.items.empty());
    EXPECT_EQ(midi::repair_kind_name(o.repairs.items.front().kind), d.kind);
    EXPECT_EQ(o.repairs.total, recovered(path).repairs.total);
    // Recovery keeps the notes that are there, never others: the melody's pitches in order.
    const midi::Song song = recovered(path).song;
    ASSERT_EQ(song.tracks.size(), 1u);
    ASSERT_EQ(song.tracks[0].notes.size(), d.notes);
    for (std::size_t i = 0; i < d.notes; ++i)
      EXPECT_EQ(song.tracks[0].notes[i].pitch, dm::pitch(i)) << "note " << i;
    if (d.notes == dm::kNotes) {
      EXPECT_EQ(o.melodies, valid.melodies);
    }

    const pl::FileOutcome& s = strict.at(d.name);
    EXPECT_EQ(s.ok, d.strict_reads);
    if (d.strict_reads) {
      EXPECT_EQ(s.melodies, o.melodies);
      EXPECT_EQ(s.repairs.total, o.repairs.total) << "strict mode lists the tolerated defects";
    } else {
      // The message strict reading always gave.
      const auto old = midi::read_file(path);
      ASSERT_FALSE(old.ok());
      EXPECT_EQ(s.error, old.error().what());
      EXPECT_TRUE(s.melodies.empty());
      EXPECT_TRUE(s.repairs.empty());
    }
  }
}

TEST(ExtractRecover, ReportListsEveryRepairFieldByField) {
  const Inputs in = make_inputs("extract-report");
  const fs::path out = in.dir.parent_path();
  pl::ExtractJob job;
  job.inputs = {in.dir.string()};
  job.output = out / "m.txt";
  job.report = out / "r.json";
  job.jobs = 2;
  const pl::ExtractSummary s = pl::run_extract_job(job);
  EXPECT_EQ(s.files, in.damaged.size() + 1);
  EXPECT_EQ(s.failed, 0u);
  ASSERT_EQ(s.repaired.size(), in.damaged.size());
  std::size_t total = 0;
  std::map<std::string, std::size_t> kinds;
  for (const auto& d : in.damaged) {
    const auto r = recovered(in.dir / d.name);
    total += r.repairs.total;
    for (const auto& item : r.repairs.items)
      ++kinds[std::string(midi::repair_kind_name(item.kind))];
  }
  EXPECT_EQ(s.repairs.total, total);
  EXPECT_EQ(s.train_lines, in.damaged.size() + 1) << "every file gave its melody";

  const json r = json::parse(melodl::read_text_file(job.report));
  EXPECT_EQ(r["read_mode"], "recover");
  EXPECT_EQ(r["totals"]["files_read"], in.damaged.size() + 1);
  EXPECT_EQ(r["totals"]["files_repaired"], in.damaged.size());
  EXPECT_EQ(r["totals"]["repairs"], total);
  ASSERT_EQ(r["totals"]["repairs_by_kind"].size(), kinds.size());
  for (const auto& [kind, n] : kinds) EXPECT_EQ(r["totals"]["repairs_by_kind"][kind], n) << kind;

  ASSERT_EQ(r["files"].size(), in.files.size());
  for (const auto& f : r["files"]) {
    const std::string source = f["source"];
    SCOPED_TRACE(source);
    const auto expected = recovered(source).repairs;
    const json& j = f["repairs"];
    EXPECT_EQ(j["total"], expected.total);
    EXPECT_EQ(j["by_kind"], pl::repairs_by_kind_json(expected));
    ASSERT_EQ(j["items"].size(), expected.items.size());
    for (std::size_t k = 0; k < expected.items.size(); ++k) {
      const midi::Repair& e = expected.items[k];
      const json& item = j["items"][k];
      EXPECT_EQ(item.size(), 7u);
      EXPECT_EQ(item["kind"], midi::repair_kind_name(e.kind));
      EXPECT_EQ(item["offset"], e.offset);
      EXPECT_EQ(item["track"], e.track);
      EXPECT_EQ(item["tick"], e.tick);
      EXPECT_EQ(item["bytes_dropped"], e.bytes_dropped);
      EXPECT_EQ(item["notes_closed"], e.notes_closed);
      EXPECT_EQ(item["detail"], e.detail);
    }
  }
  // One file in full: the HTML page before MThd, skipped from byte 0.
  const auto garbage = std::find_if(r["files"].begin(), r["files"].end(), [](const json& f) {
    return name_of(f["source"]) == "garbage-prefix.mid";
  });
  ASSERT_NE(garbage, r["files"].end());
  EXPECT_EQ((*garbage)["notes"], dm::kNotes);
  const json& g = (*garbage)["repairs"];
  EXPECT_EQ(g["total"], 1);
  EXPECT_EQ(g["by_kind"], json({{"leading_garbage", 1}}));
  EXPECT_EQ(g["items"][0]["kind"], "leading_garbage");
  EXPECT_EQ(g["items"][0]["offset"], 0);
  EXPECT_EQ(g["items"][0]["track"], -1);
  EXPECT_EQ(g["items"][0]["bytes_dropped"], 32);  // the HTML line
  EXPECT_NE(g["items"][0]["detail"].get<std::string>().find("32 bytes"), std::string::npos)
      << g["items"][0]["detail"];

  // Strict: the three files it cannot tolerate fail with the reader's strict message; the
  // tolerated defects are still listed.
  job.read_mode = midi::ReadMode::strict;
  const pl::ExtractSummary st = pl::run_extract_job(job);
  const json sr = json::parse(melodl::read_text_file(job.report));
  EXPECT_EQ(sr["read_mode"], "strict");
  EXPECT_EQ(st.failed, 3u);
  EXPECT_EQ(sr["totals"]["files_failed"], 3);
  EXPECT_EQ(sr["totals"]["files_repaired"], 3);
  std::map<std::string, std::string> failed;
  for (const auto& f : sr["failed"]) failed[name_of(f["source"])] = f["error"];
  for (const auto& d : in.damaged) {
    if (d.strict_reads) continue;
    ASSERT_EQ(failed.count(d.name), 1u) << d.name;
    EXPECT_EQ(failed[d.name], midi::read_file(in.dir / d.name).error().what());
  }
}

TEST(ExtractRecover, HarmonyExtractionCountsRepairsToo) {
  const Inputs in = make_inputs("extract-harmony");
  pl::ExtractJob job;
  job.inputs = {in.dir.string()};
  job.output = in.dir.parent_path() / "h.txt";
  job.report = in.dir.parent_path() / "h.json";
  job.harmonies = true;
  const pl::ExtractSummary s = pl::run_extract_job(job);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.repaired.size(), in.damaged.size());
  const json r = json::parse(melodl::read_text_file(job.report));
  EXPECT_EQ(r["read_mode"], "recover");
  EXPECT_EQ(r["totals"]["files_repaired"], in.damaged.size());
  EXPECT_EQ(r["totals"]["repairs"], s.repairs.total);
  for (const auto& f : r["files"])
    EXPECT_EQ(f["repairs"]["total"], recovered(f["source"].get<std::string>()).repairs.total);
  job.read_mode = midi::ReadMode::strict;
  EXPECT_EQ(pl::run_extract_job(job).failed, 3u);
}

TEST(ExtractRecover, RepairsJsonReadsBackAndWarningsNameFileAndOffset) {
  const Inputs in = make_inputs("repair-json");
  const auto truncated = recovered(in.dir / "truncated.mid").repairs;
  ASSERT_GE(truncated.items.size(), 2u);
  const json j = truncated;
  const auto back = j.get<midi::Repairs>();
  EXPECT_EQ(back.total, truncated.total);
  EXPECT_EQ(back.by_kind, truncated.by_kind);
  ASSERT_EQ(back.items.size(), truncated.items.size());
  for (std::size_t k = 0; k < back.items.size(); ++k) {
    EXPECT_EQ(back.items[k].kind, truncated.items[k].kind);
    EXPECT_EQ(back.items[k].offset, truncated.items[k].offset);
    EXPECT_EQ(back.items[k].detail, truncated.items[k].detail);
  }
  json bad = j;
  bad["items"][0]["kind"] = "no_such_kind";
  EXPECT_THROW(bad.get<midi::Repairs>(), melodl::FormatError);

  const midi::Repair& first = truncated.items[0];
  EXPECT_EQ(pl::repair_warning("x.mid", first),
            "x.mid: offset " + std::to_string(first.offset) + ": track 1: " + first.detail + " (" +
                std::string(midi::repair_kind_name(first.kind)) + ")");
  midi::Repair file_level;
  file_level.kind = midi::RepairKind::leading_garbage;
  file_level.detail = "d";
  EXPECT_EQ(pl::repair_warning("y.mid", file_level), "y.mid: d (leading_garbage)");
  midi::Repairs capped;
  capped.items = {file_level};
  capped.total = 5;
  const auto lines = pl::repair_warnings("y.mid", capped);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "y.mid: 4 more repairs not itemised");
  EXPECT_EQ(pl::repair_counts_text(truncated),
            "chunk_past_end 1, truncated 1" +
                std::string(truncated.total > 2 ? ", missing_end_of_track 1" : ""));
}

TEST(ExtractRecover, TrainingInputsRecoverByDefaultAndSkipInStrictMode) {
  const Inputs in = make_inputs("corpus-inputs");
  std::vector<std::string> recovered_files, skipped;
  pl::InputEvents events;
  events.recovered = [&](const std::string& source, const midi::Repairs& r) {
    EXPECT_FALSE(r.empty());
    recovered_files.push_back(name_of(source));
  };
  events.skipped = [&](const std::string& source, const std::string&) {
    skipped.push_back(name_of(source));
  };
  auto entries = pl::load_corpus_entries({in.dir.string()}, 1, pl::LineKind::melody, events);
  EXPECT_EQ(entries.size(), in.damaged.size() + 1);
  EXPECT_EQ(recovered_files.size(), in.damaged.size());
  EXPECT_TRUE(skipped.empty());

  recovered_files.clear();
  entries = pl::load_corpus_entries({in.dir.string()}, 1, pl::LineKind::melody, events,
                                    midi::ReadMode::strict);
  EXPECT_EQ(entries.size(), in.damaged.size() + 1 - 3);
  EXPECT_TRUE(recovered_files.empty()) << "strict mode recovers nothing";
  std::sort(skipped.begin(), skipped.end());
  EXPECT_EQ(skipped, (std::vector<std::string>{"garbage-prefix.mid", "truncated.mid",
                                               "undefined-status.mid"}));
}

TEST(ExtractRecover, RunConfigStoresTheReadMode) {
  pl::RunConfig c;
  EXPECT_FALSE(c.strict_midi);
  json j = c;
  EXPECT_EQ(j["strict_midi"], false);
  c.strict_midi = true;
  j = c;
  EXPECT_TRUE(j.get<pl::RunConfig>().strict_midi);
  // A run from before recovery read its MIDI strictly, and resumes so.
  j.erase("strict_midi");
  EXPECT_TRUE(j.get<pl::RunConfig>().strict_midi);
}

#ifdef MELODL_EXE
TEST(ExtractRecover, TrainAndEvalCommandsRecoverDamagedMidiUnlessStrict) {
  const Inputs in = make_inputs("train-command");
  const std::string exe = MELODL_EXE;
  const std::string flags =
      " --layers 1 --hidden 8 --window 40 --tbptt 20 --batch 2 --epochs 1 --threads 1"
      " --checkpoint-every 0 --samples-per-epoch 0 -j 1 --valid-fraction 0.3";
  const fs::path run = in.dir.parent_path() / "run";
  auto r = melodl::train_test::run_command(exe + " train " + in.dir.string() + flags +
                                           " --run-dir " + run.string());
  ASSERT_EQ(r.code, 0) << r.output;
  for (const auto& d : in.damaged) {
    EXPECT_NE(r.output.find("melodl: recovered " + (in.dir / d.name).generic_string() + ": "),
              std::string::npos)
        << d.name << "\n"
        << r.output;
  }
  EXPECT_EQ(r.output.find("skipping"), std::string::npos) << r.output;
  EXPECT_EQ(json::parse(melodl::read_text_file(run / "config.json"))["strict_midi"], false);
  // eval reads MIDI --data the same way: every file's melody, or with --strict 4 of 7.
  const std::string eval = exe + " eval " + run.string() + " --data " + in.dir.string() +
                           " --train " + (in.dir / "valid.mid").string() +
                           " --samples 1 --length 20 --json -j 1";
  for (const auto& [flag, melodies] : {std::pair{"", 7}, std::pair{" --strict", 4}}) {
    r = melodl::train_test::run_command(eval + flag);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(json::parse(r.output)["data"]["eval_melodies"], melodies) << flag;
  }

  const fs::path strict_run = in.dir.parent_path() / "strict";
  r = melodl::train_test::run_command(exe + " train " + in.dir.string() + flags + " --strict" +
                                      " --run-dir " + strict_run.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("recovered"), std::string::npos) << r.output;
  for (const char* name : {"garbage-prefix.mid", "truncated.mid", "undefined-status.mid"}) {
    const fs::path path = in.dir / name;
    EXPECT_NE(r.output.find("melodl: skipping " + path.generic_string() + ": " +
                            midi::read_file(path).error().what()),
              std::string::npos)
        << name << "\n"
        << r.output;
  }
  EXPECT_EQ(json::parse(melodl::read_text_file(strict_run / "config.json"))["strict_midi"], true);
}
#endif

#ifdef MELODL_EXE
TEST(ExtractRecover, TrainListsTwentyRecoveredFilesThenCountsTheRest) {
  // A large corpus with many damaged files must not bury training's output under warnings.
  const Inputs in = make_inputs("train-many-damaged");
  const fs::path truncated = in.dir / "truncated.mid";
  for (int i = 0; i < 24; ++i)
    fs::copy_file(truncated, in.dir / ("copy-" + std::to_string(i) + ".mid"));
  const std::size_t damaged = in.damaged.size() + 24;
  ASSERT_GT(damaged, 20u);
  const fs::path run = in.dir.parent_path() / "run";
  const auto r = melodl::train_test::run_command(
      std::string(MELODL_EXE) + " train " + in.dir.string() +
      " --layers 1 --hidden 8 --window 40 --tbptt 20 --batch 2 --epochs 1 --threads 1"
      " --checkpoint-every 0 --samples-per-epoch 0 -j 1 --valid-fraction 0.3 --run-dir " +
      run.string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::size_t listed = 0;
  for (std::size_t at = r.output.find("melodl: recovered "); at != std::string::npos;
       at = r.output.find("melodl: recovered ", at + 1))
    ++listed;
  EXPECT_EQ(listed, 20u) << r.output;
  EXPECT_NE(r.output.find("melodl: " + std::to_string(damaged) +
                          " files recovered and 0 skipped in all (20 of each listed)"),
            std::string::npos)
      << r.output;
}
#endif
