// examples/cmd_extract.cpp: `melodl extract`: MIDI files or directories -> a
// melodies text file (one melody per line, each after a provenance comment), with a
// per-filter summary, an optional JSON report and an optional train/validation split
// by source file. Malformed MIDI files are skipped and reported, never fatal.
// Usage: melodl extract data/bach -o out/melodies.txt --report out/report.json
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "pipeline/extract_run.h"
#include "base/files.h"
#include "midi/files.h"
#include "encode/melody_file.h"
#include "examples/progress.h"

namespace encode = melodl::encode;
namespace pipeline = melodl::pipeline;


namespace {

namespace fs = std::filesystem;
using pipeline::FileOutcome;
using melodl::encode::Rejection;

struct ExtractArgs {
  std::vector<std::string> inputs;
  std::string output = "melodies.txt";
  std::string valid_output;
  std::string report;
  std::string format = "native";
  std::string voices = "top";
  double valid_fraction = 0.0;
  std::uint64_t seed = 42;
  unsigned jobs = 0;
  bool quiet = false;
  melodl::encode::ExtractOptions opt;
  bool keep_short_rests = false;
  bool keep_percussion = false;
  bool harmonies = false;  // --harmonies: two-part harmonies instead of melodies
  melodl::encode::HarmonyOptions hopt;
};

constexpr int kReasons = static_cast<int>(Rejection::count_);

nlohmann::json rejected_json(const melodl::encode::ExtractStats& s) {
  nlohmann::json j = nlohmann::json::object();
  for (int r = 0; r < kReasons; ++r)
    j[melodl::encode::to_string(static_cast<Rejection>(r))] = s.rejected[r];
  return j;
}

std::string join_melodies(const std::string& format, const std::vector<pipeline::FileOutcome>& outcomes,
                          const std::vector<bool>& valid, bool want_valid, std::size_t& count) {
  std::string text = encode::melodies_header(format) + "\n";
  count = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (valid[i] != want_valid) continue;
    const pipeline::FileOutcome& o = outcomes[i];
    for (std::size_t m = 0; m < o.melodies.size(); ++m) {
      text += o.comments[m];
      text += '\n';
      text += o.melodies[m];
      text += '\n';
      ++count;
    }
  }
  return text;
}

// `melodl extract --harmonies`: two-part harmony lines (docs/formats.md section 6).
int run_extract_harmonies(const ExtractArgs& a) {
  if (a.format == "melodl4j-v1")
    throw melodl::cli::UsageError(
        "--harmonies writes --format native or original-harmony, not melodl4j-v1");
  const auto& codec = melodl::encode::harmony_codec_by_name(a.format);
  const melodl::encode::HarmonyOptions& opt = a.hopt;
  const fs::path output(a.output);
  const bool split = a.valid_fraction > 0.0;
  const fs::path valid_output = a.valid_output.empty()
                                    ? melodl::with_stem_suffix(output, "-valid")
                                    : fs::path(a.valid_output);
  if (split && valid_output == output)
    throw melodl::cli::UsageError("--valid-output must differ from --output (" + a.output + ")");
  const auto files = melodl::midi::find_midi_files(a.inputs);
  if (files.empty())
    throw melodl::cli::Error("no MIDI files (*.mid, *.midi, *.rmi, *.kar) found in the inputs");
  melodl::check_writable(output);
  if (split) melodl::check_writable(valid_output);
  if (!a.report.empty()) melodl::check_writable(a.report);

  melodl::cli::Progress progress("extract", files.size(), a.quiet);
  const auto outcomes = pipeline::extract_harmony_files(
      files, opt, codec, a.jobs,
      [&](std::size_t done, const std::string& source) { progress.update(done, source); });
  progress.finish();

  // The split by source file only looks at which files gave lines.
  std::vector<pipeline::FileOutcome> shim(outcomes.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) shim[i].melodies = outcomes[i].lines;
  const std::vector<bool> valid = pipeline::split_by_source(shim, a.valid_fraction, a.seed);
  const auto join = [&](bool want_valid, std::size_t& count) {
    std::string text = pipeline::harmonies_header(a.format) + "\n" +
                       pipeline::harmonies_grid_comment(opt) + "\n";
    count = 0;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      if (valid[i] != want_valid) continue;
      for (std::size_t k = 0; k < outcomes[i].lines.size(); ++k) {
        text += outcomes[i].comments[k] + "\n" + outcomes[i].lines[k] + "\n";
        ++count;
      }
    }
    return text;
  };
  std::size_t train_count = 0, valid_count = 0;
  melodl::write_file_atomic(output, join(false, train_count));
  if (split) melodl::write_file_atomic(valid_output, join(true, valid_count));

  melodl::encode::HarmonyStats total;
  std::size_t failed = 0, files_kept = 0;
  for (const auto& o : outcomes) {
    total += o.stats;
    if (!o.ok) ++failed;
    if (!o.lines.empty()) ++files_kept;
  }
  constexpr int kHarmonyReasons = static_cast<int>(melodl::encode::HarmonyRejection::count_);
  const auto reason = [](int r) {
    return melodl::encode::to_string(static_cast<melodl::encode::HarmonyRejection>(r));
  };
  if (!a.report.empty()) {
    nlohmann::json rej = nlohmann::json::object();
    for (int r = 0; r < kHarmonyReasons; ++r) rej[reason(r)] = total.rejected[r];
    nlohmann::json per_file = nlohmann::json::array();
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const auto& o = outcomes[i];
      nlohmann::json f = {{"source", o.source},
                          {"ok", o.ok},
                          {"voices", o.stats.voices},
                          {"pairs", o.stats.pairs},
                          {"kept", o.stats.kept}};
      if (!o.ok) f["error"] = o.error;
      if (split) f["set"] = valid[i] ? "valid" : "train";
      per_file.push_back(std::move(f));
    }
    nlohmann::json r = {{"command", "extract"},
                        {"mode", "harmonies"},
                        {"format", a.format},
                        {"inputs", a.inputs},
                        {"options",
                         {{"min_notes", opt.min_notes},
                          {"min_activity", opt.min_activity},
                          {"max_gap", opt.max_gap},
                          {"step_s", opt.step_seconds},
                          {"average_tempo", opt.average_tempo},
                          {"steps_per_beat", opt.steps_per_beat},
                          {"remove_silences", opt.remove_silences},
                          {"legato_fix", opt.legato_fix},
                          {"min_steps", opt.min_steps}}},
                        {"totals",
                         {{"files", outcomes.size()},
                          {"files_failed", failed},
                          {"files_kept", files_kept},
                          {"voices", total.voices},
                          {"pairs", total.pairs},
                          {"kept", total.kept},
                          {"rejected", rej}}},
                        {"outputs", {{"harmonies", a.output}, {"harmonies_count", train_count}}},
                        {"files", per_file}};
    if (split) {
      r["outputs"]["valid"] = valid_output.string();
      r["outputs"]["valid_count"] = valid_count;
    }
    melodl::write_file_atomic(a.report, r.dump(2) + "\n");
  }
  if (!a.quiet) {
    std::printf("melodl extract --harmonies: %zu files, %zu failed, %zu with a harmony\n",
                outcomes.size(), failed, files_kept);
    for (const auto& o : outcomes)
      if (!o.ok) std::printf("  failed: %s\n", o.error.c_str());
    std::printf("  voices: %zu, candidate pairs: %zu, kept: %zu\n", total.voices, total.pairs,
                total.kept);
    for (int r = 0; r < kHarmonyReasons; ++r)
      std::printf("    %-22s %zu\n", reason(r), total.rejected[r]);
    if (split)
      std::printf("  wrote %s (%zu harmonies) and %s (%zu harmonies)\n", a.output.c_str(),
                  train_count, valid_output.string().c_str(), valid_count);
    else
      std::printf("  wrote %s (%zu harmonies)\n", a.output.c_str(), train_count);
    std::fflush(stdout);
  }
  if (failed == outcomes.size())
    throw melodl::cli::Error("none of the " + std::to_string(failed) +
                             " MIDI files could be read; the first: " + outcomes.front().error);
  if (total.kept == 0)
    std::fprintf(stderr, "melodl extract: warning: no voice pair passed the filters\n");
  return 0;
}

int run_extract(const ExtractArgs& a) {
  if (a.harmonies) return run_extract_harmonies(a);
  if (a.format == "original-harmony")
    throw melodl::cli::UsageError("--format original-harmony needs --harmonies");
  const auto& codec = melodl::encode::codec_by_name(a.format);
  melodl::encode::ExtractOptions opt = a.opt;
  opt.drop_short_rests = !a.keep_short_rests;
  opt.skip_percussion = !a.keep_percussion;
  opt.top = a.voices == "top" || a.voices == "both";
  opt.bottom = a.voices == "bottom" || a.voices == "both";

  const fs::path output(a.output);
  const bool split = a.valid_fraction > 0.0;
  const fs::path valid_output = a.valid_output.empty()
                                    ? melodl::with_stem_suffix(output, "-valid")
                                    : fs::path(a.valid_output);
  if (split && valid_output == output)
    throw melodl::cli::UsageError("--valid-output must differ from --output (" + a.output + ")");
  if (!a.report.empty() &&
      (fs::path(a.report) == output || (split && fs::path(a.report) == valid_output)))
    throw melodl::cli::UsageError("--report must differ from the melodies outputs (" + a.report +
                                  ")");

  // Fail on bad paths before reading anything.
  const auto files = melodl::midi::find_midi_files(a.inputs);
  if (files.empty()) {
    std::string list;
    for (const auto& i : a.inputs) list += (list.empty() ? "" : ", ") + i;
    throw melodl::cli::Error("no MIDI files (*.mid, *.midi, *.rmi, *.kar) found in " + list);
  }
  melodl::check_writable(output);
  if (split) melodl::check_writable(valid_output);
  if (!a.report.empty()) melodl::check_writable(a.report);

  melodl::cli::Progress progress("extract", files.size(), a.quiet);
  const auto outcomes = pipeline::extract_files(
      files, opt, codec, a.jobs,
      [&](std::size_t done, const std::string& source) { progress.update(done, source); });
  progress.finish();

  const std::vector<bool> valid = pipeline::split_by_source(outcomes, a.valid_fraction, a.seed);
  std::size_t train_count = 0, valid_count = 0;
  melodl::write_file_atomic(output,
                                 join_melodies(a.format, outcomes, valid, false, train_count));
  if (split)
    melodl::write_file_atomic(valid_output,
                                   join_melodies(a.format, outcomes, valid, true, valid_count));

  const melodl::encode::ExtractStats total = pipeline::total_stats(outcomes);
  std::size_t failed = 0, notes = 0, train_files = 0, valid_files = 0;
  std::uintmax_t bytes = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (!outcomes[i].ok) ++failed;
    notes += outcomes[i].notes;
    bytes += outcomes[i].bytes;
    if (!outcomes[i].melodies.empty()) ++(valid[i] ? valid_files : train_files);
  }

  if (!a.report.empty()) {
    nlohmann::json r;
    r["command"] = "extract";
    r["format"] = a.format;
    r["inputs"] = a.inputs;
    r["options"] = {{"voices", a.voices},
                    {"min_notes", opt.min_notes},
                    {"max_interval", opt.max_abs_interval},
                    {"max_longest_rest", opt.max_longest_rest_fraction},
                    {"min_pitches", opt.min_distinct_pitches},
                    {"max_repeat_fraction", opt.max_repeat_fraction},
                    {"max_repeat_run", opt.max_repeat_run},
                    {"max_total_rest", opt.max_total_rest_fraction},
                    {"keep_short_rests", a.keep_short_rests},
                    {"keep_percussion", a.keep_percussion}};
    r["totals"] = {{"files", outcomes.size()},     {"files_read", outcomes.size() - failed},
                   {"files_failed", failed},       {"bytes", bytes},
                   {"tracks", total.tracks},       {"notes", notes},
                   {"sequences", total.sequences}, {"percussion_skipped", total.percussion_skipped},
                   {"melodies_kept", total.kept},  {"rejected", rejected_json(total)}};
    nlohmann::json failed_list = nlohmann::json::array();
    nlohmann::json per_file = nlohmann::json::array();
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const pipeline::FileOutcome& o = outcomes[i];
      if (!o.ok) failed_list.push_back({{"source", o.source}, {"error", o.error}});
      nlohmann::json f = {{"source", o.source},
                          {"ok", o.ok},
                          {"bytes", o.bytes},
                          {"tracks", o.tracks},
                          {"notes", o.notes},
                          {"sequences", o.stats.sequences},
                          {"percussion_skipped", o.stats.percussion_skipped},
                          {"melodies_kept", o.melodies.size()},
                          {"rejected", rejected_json(o.stats)}};
      if (!o.ok) f["error"] = o.error;
      if (split) f["set"] = valid[i] ? "valid" : "train";
      per_file.push_back(std::move(f));
    }
    r["failed"] = std::move(failed_list);
    nlohmann::json outputs = {{"melodies", a.output}, {"melodies_count", train_count}};
    if (split) {
      outputs["valid"] = valid_output.string();
      outputs["valid_count"] = valid_count;
      outputs["valid_fraction"] = a.valid_fraction;
      outputs["seed"] = a.seed;
      outputs["train_files"] = train_files;
      outputs["valid_files"] = valid_files;
    }
    r["outputs"] = std::move(outputs);
    r["files"] = std::move(per_file);
    melodl::write_file_atomic(a.report, r.dump(2) + "\n");
  }

  if (!a.quiet) {
    std::printf("melodl extract: %zu files, %zu read, %zu failed (%.1f MB, %zu notes)\n",
                outcomes.size(), outcomes.size() - failed, failed, static_cast<double>(bytes) / 1e6,
                notes);
    for (const auto& o : outcomes)
      if (!o.ok) std::printf("  failed: %s\n", o.error.c_str());
    std::printf("  tracks: %zu, note sequences: %zu, percussion skipped: %zu\n", total.tracks,
                total.sequences, total.percussion_skipped);
    std::printf("  melodies kept: %zu\n", total.kept);
    std::size_t rejected = 0;
    for (std::size_t n : total.rejected) rejected += n;
    std::printf("  melodies rejected: %zu\n", rejected);
    for (int r = 0; r < kReasons; ++r)
      std::printf("    %-22s %zu\n", melodl::encode::to_string(static_cast<Rejection>(r)),
                  total.rejected[r]);
    if (split) {
      std::printf("  wrote %s (%zu melodies from %zu files) and %s (%zu melodies from %zu files)\n",
                  a.output.c_str(), train_count, train_files, valid_output.c_str(), valid_count,
                  valid_files);
    } else {
      std::printf("  wrote %s (%zu melodies)\n", a.output.c_str(), train_count);
    }
    if (!a.report.empty()) std::printf("  report: %s\n", a.report.c_str());
    std::fflush(stdout);
  }
  if (failed == outcomes.size()) {
    throw melodl::cli::Error("none of the " + std::to_string(failed) +
                             " MIDI files could be read; the first: " + outcomes.front().error);
  }
  if (total.kept == 0)
    std::fprintf(stderr, "melodl extract: warning: no melody passed the filters\n");
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<ExtractArgs>();
  sub.footer(
      "Output: one melody per line, each after a `// track=... source=...` comment; the first "
      "line names the format. Files that cannot be read are skipped and listed in the summary "
      "and the report. Exit codes: 0 done, 1 bad input or output path, 2 bad usage.");
  sub.add_option("inputs", a->inputs,
                 "MIDI files or directories (directories are searched recursively for *.mid, "
                 "*.midi, *.rmi, *.kar)")
      ->required();
  sub.add_option("-o,--output", a->output, "Melodies file to write")->capture_default_str();
  sub.add_option("--format", a->format, "Melody string format")
      ->check(CLI::IsMember({"native", "melodl4j-v1", "original-harmony"}))
      ->capture_default_str();
  sub.add_option("--voices", a->voices,
                 "Which line to extract from polyphonic sequences: top, bottom or both (two "
                 "melodies)")
      ->check(CLI::IsMember({"top", "bottom", "both"}))
      ->capture_default_str();
  sub.add_option("--min-notes", a->opt.min_notes, "Keep melodies with at least this many notes")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  sub.add_option("--max-interval", a->opt.max_abs_interval,
                 "Reject melodies with a larger |interval| (semitones) between consecutive notes")
      ->check(CLI::Range(0, 127))
      ->capture_default_str();
  sub.add_option("--max-longest-rest", a->opt.max_longest_rest_fraction,
                 "Reject melodies whose longest rest exceeds this fraction of their duration")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub.add_option("--min-pitches", a->opt.min_distinct_pitches,
                 "Reject melodies with fewer distinct pitches")
      ->check(CLI::Range(1, 128))
      ->capture_default_str();
  sub.add_option("--max-repeat-fraction", a->opt.max_repeat_fraction,
                 "Reject melodies whose repeated notes / notes is not below this")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub.add_option("--max-repeat-run", a->opt.max_repeat_run,
                 "Reject melodies with a longer run of consecutive repeated notes")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  sub.add_option("--max-total-rest", a->opt.max_total_rest_fraction,
                 "Reject melodies whose total rest / duration is not below this")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub.add_flag("--keep-short-rests", a->keep_short_rests,
               "Keep rests shorter than half a duration unit as rests (MELODL4J v1 behaviour); "
               "by default they are merged into the previous note");
  sub.add_flag("--keep-percussion", a->keep_percussion,
               "Also extract from channel 10 (General MIDI percussion), as MELODL4J v1 did");
  sub.add_flag("--harmonies", a->harmonies,
               "Extract two-part harmonies (pairs of voices, docs/formats.md section 6) instead "
               "of melodies; --format native or original-harmony");
  sub.add_option("--harmony-min-notes", a->hopt.min_notes,
                 "Harmonies: both voices need at least this many notes")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  sub.add_option("--min-activity", a->hopt.min_activity,
                 "Harmonies: each voice's sounding time / the later end, at least")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub.add_option("--max-gap", a->hopt.max_gap,
                 "Harmonies: each voice's longest gap / its own end, at most")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub.add_option("--step", a->hopt.step_seconds, "Harmonies: sampling step in seconds")
      ->check(CLI::Range(0.001, 10.0))
      ->capture_default_str();
  sub.add_option("--steps-per-beat", a->hopt.steps_per_beat,
                 "Harmonies: sample n steps per beat instead of every --step seconds (0 = off)")
      ->check(CLI::Range(0, 96))
      ->capture_default_str();
  sub.add_flag("--average-tempo", a->hopt.average_tempo,
               "Harmonies: step from the file's average tempo, as MELODL4J (default: tempo map)");
  sub.add_flag("!--no-legato-fix", a->hopt.legato_fix,
               "Harmonies: do not close gaps and small overlaps between consecutive notes");
  sub.add_flag("!--keep-silences", a->hopt.remove_silences,
               "Harmonies: do not shorten silences of 8+ steps (MELODL4J removeSilences)");
  sub.add_option("--valid-fraction", a->valid_fraction,
                 "Fraction of SOURCE FILES (not melodies) written to the validation file; 0 = "
                 "no split")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  sub.add_option("--seed", a->seed, "Seed of the train/validation split")->capture_default_str();
  sub.add_option(
      "--valid-output", a->valid_output,
      "Validation melodies file (default: <output>-valid.<ext>, e.g. melodies-valid.txt)");
  sub.add_option("--report", a->report,
                 "Write a JSON report: totals, rejections per filter, failed files and per-file "
                 "counts");
  sub.add_option("-j,--jobs", a->jobs, "Threads reading files (0 = one per CPU core)")
      ->capture_default_str();
  sub.add_flag("-q,--quiet", a->quiet, "No progress and no summary (errors are still printed)");
  return [a] { return run_extract(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(extract, "extract",
                        "Extract monophonic melodies from MIDI files into a melodies text file",
                        setup);
