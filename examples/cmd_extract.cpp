// examples/cmd_extract.cpp: `melodl extract`: MIDI files or directories -> a
// melodies text file (one melody per line, each after a provenance comment), with a
// per-filter summary, an optional JSON report and an optional train/validation split
// by source file. Damaged MIDI files are recovered (what is readable kept, every repair
// counted; -v lists them) or, with --strict, skipped; unreadable ones are reported, never fatal.
// Usage: melodl extract data/bach -o out/melodies.txt --report out/report.json
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "base/files.h"
#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/flags.h"
#include "examples/progress.h"
#include "pipeline/extract_job.h"
#include "pipeline/repair_report.h"

namespace encode = melodl::encode;
namespace pipeline = melodl::pipeline;

namespace {

using melodl::cli::add_in_range;

namespace fs = std::filesystem;
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
  bool strict = false;   // --strict: refuse damaged files
  bool verbose = false;  // -v: a warning per repair
  melodl::encode::ExtractOptions opt;
  bool keep_short_rests = false;
  bool keep_percussion = false;
  bool harmonies = false;  // --harmonies: two-part harmonies instead of melodies
  melodl::encode::HarmonyOptions hopt;
};

// The flags as a job; flag combinations that cannot work are usage errors (exit 2).
pipeline::ExtractJob job_from_args(const ExtractArgs& a) {
  pipeline::ExtractJob job;
  job.inputs = a.inputs;
  job.output = a.output;
  job.report = a.report;
  job.format = a.format;
  job.valid_fraction = a.valid_fraction;
  job.seed = a.seed;
  job.jobs = a.jobs;
  job.harmonies = a.harmonies;
  job.read_mode = melodl::cli::read_mode(a.strict);
  job.harmony = a.hopt;
  job.melody = a.opt;
  job.melody.drop_short_rests = !a.keep_short_rests;
  job.melody.skip_percussion = !a.keep_percussion;
  job.melody.top = a.voices == "top" || a.voices == "both";
  job.melody.bottom = a.voices == "bottom" || a.voices == "both";
  job.valid_output = a.valid_output.empty() ? melodl::with_stem_suffix(job.output, "-valid")
                                            : fs::path(a.valid_output);
  const bool split = a.valid_fraction > 0.0;
  if (a.harmonies && a.format == "melodl4j-v1")
    throw melodl::cli::UsageError(
        "--harmonies writes --format native or original-harmony, not melodl4j-v1");
  if (!a.harmonies && a.format == "original-harmony")
    throw melodl::cli::UsageError("--format original-harmony needs --harmonies");
  if (split && job.valid_output == job.output)
    throw melodl::cli::UsageError("--valid-output must differ from --output (" + a.output + ")");
  if (!a.report.empty() && (job.report == job.output || (split && job.report == job.valid_output)))
    throw melodl::cli::UsageError("--report must differ from the melodies outputs (" + a.report +
                                  ")");
  return job;
}

template <class Reason, class Stats>
void print_rejections(const Stats& s) {
  for (int r = 0; r < static_cast<int>(Reason::count_); ++r)
    std::printf("    %-22s %zu\n", melodl::encode::to_string(static_cast<Reason>(r)),
                s.rejected[r]);
}

void print_summary(const ExtractArgs& a, const pipeline::ExtractJob& job,
                   const pipeline::ExtractSummary& s) {
  const bool split = job.valid_fraction > 0.0;
  const char* what = a.harmonies ? "harmonies" : "melodies";
  // Recover mode: ", 3 recovered (7 repairs)"; strict mode as before recovery existed.
  char recovered[64] = "";
  if (!a.strict)
    std::snprintf(recovered, sizeof recovered, ", %zu recovered (%zu repairs)", s.repaired.size(),
                  s.repairs.total);
  if (a.harmonies) {
    std::printf("melodl extract --harmonies: %zu files%s, %zu failed, %zu with a harmony\n",
                s.files, recovered, s.failed, s.train_files + s.valid_files);
  } else {
    std::printf("melodl extract: %zu files, %zu read%s, %zu failed (%.1f MB, %zu notes)\n", s.files,
                s.files - s.failed, recovered, s.failed, static_cast<double>(s.bytes) / 1e6,
                s.notes);
  }
  for (const auto& e : s.errors) std::printf("  failed: %s\n", e.c_str());
  if (a.harmonies) {
    std::printf("  voices: %zu, candidate pairs: %zu, kept: %zu\n", s.harmony.voices,
                s.harmony.pairs, s.harmony.kept);
    print_rejections<melodl::encode::HarmonyRejection>(s.harmony);
  } else {
    std::printf("  tracks: %zu, note sequences: %zu, percussion skipped: %zu\n", s.melody.tracks,
                s.melody.sequences, s.melody.percussion_skipped);
    std::printf("  melodies kept: %zu\n", s.melody.kept);
    std::size_t rejected = 0;
    for (std::size_t n : s.melody.rejected) rejected += n;
    std::printf("  melodies rejected: %zu\n", rejected);
    print_rejections<Rejection>(s.melody);
  }
  if (split && !a.harmonies) {
    std::printf("  wrote %s (%zu melodies from %zu files) and %s (%zu melodies from %zu files)\n",
                a.output.c_str(), s.train_lines, s.train_files, job.valid_output.c_str(),
                s.valid_lines, s.valid_files);
  } else if (split) {
    std::printf("  wrote %s (%zu %s) and %s (%zu %s)\n", a.output.c_str(), s.train_lines, what,
                job.valid_output.c_str(), s.valid_lines, what);
  } else {
    std::printf("  wrote %s (%zu %s)\n", a.output.c_str(), s.train_lines, what);
  }
  if (!a.report.empty() && !a.harmonies) std::printf("  report: %s\n", a.report.c_str());
  std::fflush(stdout);
}

int run_extract(const ExtractArgs& a) {
  const pipeline::ExtractJob job = job_from_args(a);
  melodl::cli::Progress progress("extract", 0, a.quiet);
  const pipeline::ExtractSummary s = pipeline::run_extract_job(
      job, [&](std::size_t done, const std::string& source) { progress.update(done, source); },
      [&](std::size_t files) { progress.set_total(files); });
  progress.finish();
  if (a.verbose)
    for (const auto& f : s.repaired)
      for (const auto& line : pipeline::repair_warnings(f.source, f.repairs))
        std::fprintf(stderr, "melodl extract: warning: %s\n", line.c_str());
  if (!a.quiet) print_summary(a, job, s);
  if (s.failed == s.files)
    throw melodl::cli::Error("none of the " + std::to_string(s.failed) +
                             " MIDI files could be read; the first: " + s.errors.front());
  const std::size_t kept = a.harmonies ? s.harmony.kept : s.melody.kept;
  if (kept == 0)
    std::fprintf(stderr, "melodl extract: warning: no %s passed the filters\n",
                 a.harmonies ? "voice pair" : "melody");
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<ExtractArgs>();
  sub.footer(
      "Output: one melody per line, each after a `// track=... source=...` comment; the first "
      "line names the format. Damaged files are recovered: what is readable is kept (never "
      "invented), the repairs counted in the summary, listed per file in the report and, with "
      "-v, as warnings; --strict refuses them instead. Files that cannot be read are skipped "
      "and listed in the summary and the report. Exit codes: 0 done, 1 bad input or output "
      "path, 2 bad usage.");
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
  add_in_range(sub, "--min-notes", a->opt.min_notes, "Keep melodies with at least this many notes",
               1, 1000000);
  add_in_range(sub, "--max-interval", a->opt.max_abs_interval,
               "Reject melodies with a larger |interval| (semitones) between consecutive notes", 0,
               127);
  add_in_range(sub, "--max-longest-rest", a->opt.max_longest_rest_fraction,
               "Reject melodies whose longest rest exceeds this fraction of their duration", 0.0,
               1.0);
  add_in_range(sub, "--min-pitches", a->opt.min_distinct_pitches,
               "Reject melodies with fewer distinct pitches", 1, 128);
  add_in_range(sub, "--max-repeat-fraction", a->opt.max_repeat_fraction,
               "Reject melodies whose repeated notes / notes is not below this", 0.0, 1.0);
  add_in_range(sub, "--max-repeat-run", a->opt.max_repeat_run,
               "Reject melodies with a longer run of consecutive repeated notes", 0, 1000000);
  add_in_range(sub, "--max-total-rest", a->opt.max_total_rest_fraction,
               "Reject melodies whose total rest / duration is not below this", 0.0, 1.0);
  sub.add_flag("--keep-short-rests", a->keep_short_rests,
               "Keep rests shorter than half a duration unit as rests (MELODL4J v1 behaviour); "
               "by default they are merged into the previous note");
  sub.add_flag("--keep-percussion", a->keep_percussion,
               "Also extract from channel 10 (General MIDI percussion), as MELODL4J v1 did");
  sub.add_flag("--harmonies", a->harmonies,
               "Extract two-part harmonies (pairs of voices, docs/formats.md section 6) instead "
               "of melodies; --format native or original-harmony");
  add_in_range(sub, "--harmony-min-notes", a->hopt.min_notes,
               "Harmonies: both voices need at least this many notes", 0, 1000000);
  add_in_range(sub, "--min-activity", a->hopt.min_activity,
               "Harmonies: each voice's sounding time / the later end, at least", 0.0, 1.0);
  add_in_range(sub, "--max-gap", a->hopt.max_gap,
               "Harmonies: each voice's longest gap / its own end, at most", 0.0, 1.0);
  add_in_range(sub, "--step", a->hopt.step_seconds, "Harmonies: sampling step in seconds", 0.001,
               10.0);
  add_in_range(sub, "--steps-per-beat", a->hopt.steps_per_beat,
               "Harmonies: sample n steps per beat instead of every --step seconds (0 = off)", 0,
               96);
  sub.add_flag("--average-tempo", a->hopt.average_tempo,
               "Harmonies: step from the file's average tempo, as MELODL4J (default: tempo map)");
  sub.add_flag("!--no-legato-fix", a->hopt.legato_fix,
               "Harmonies: do not close gaps and small overlaps between consecutive notes");
  sub.add_flag("!--keep-silences", a->hopt.remove_silences,
               "Harmonies: do not shorten silences of 8+ steps (MELODL4J removeSilences)");
  add_in_range(sub, "--valid-fraction", a->valid_fraction,
               "Fraction of SOURCE FILES (not melodies) written to the validation file; 0 = "
               "no split",
               0.0, 0.99);
  sub.add_option("--seed", a->seed, "Seed of the train/validation split")->capture_default_str();
  sub.add_option(
      "--valid-output", a->valid_output,
      "Validation melodies file (default: <output>-valid.<ext>, e.g. melodies-valid.txt)");
  sub.add_option("--report", a->report,
                 "Write a JSON report: totals, rejections per filter, failed files, per-file "
                 "counts and repairs (kind, byte offset, what was kept or dropped)");
  sub.add_option("-j,--jobs", a->jobs, "Threads reading files (0 = one per CPU core)")
      ->capture_default_str();
  melodl::cli::add_strict_flag(sub, a->strict);
  sub.add_flag("-v,--verbose", a->verbose,
               "Print a warning per repair made to read a damaged file (file: offset N: what "
               "was kept or dropped), also with --quiet");
  sub.add_flag("-q,--quiet", a->quiet, "No progress and no summary (errors are still printed)");
  return [a] { return run_extract(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(extract, "extract",
                        "Extract monophonic melodies from MIDI files into a melodies text file",
                        setup);
