// pipeline/extract_job.cpp: see extract_job.h. The JSON report's layout is documented in
// docs/cli.md ("melodl extract --report").
#include "pipeline/extract_job.h"

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/files.h"
#include "encode/codec.h"
#include "encode/melody_file.h"
#include "midi/files.h"
#include "pipeline/repair_report.h"

namespace melodl::pipeline {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The lines of one set (training or validation) as a file: header lines, then each line
// after its provenance comment. Outcome is FileOutcome (melodies) or HarmonyFileOutcome.
template <class Outcome>
std::string join_lines(const std::string& header, const std::vector<Outcome>& outcomes,
                       const std::vector<const std::vector<std::string>*>& lines,
                       const std::vector<bool>& valid, bool want_valid, std::size_t& count) {
  std::string text = header;
  count = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (valid[i] != want_valid) continue;
    for (std::size_t k = 0; k < lines[i]->size(); ++k) {
      text += outcomes[i].comments[k] + "\n" + (*lines[i])[k] + "\n";
      ++count;
    }
  }
  return text;
}

template <class Stats, class Reason>
json rejected_json(const Stats& s) {
  json j = json::object();
  for (int r = 0; r < static_cast<int>(Reason::count_); ++r)
    j[encode::to_string(static_cast<Reason>(r))] = s.rejected[r];
  return j;
}

const char* voices_name(const encode::ExtractOptions& o) {
  return o.top && o.bottom ? "both" : o.bottom ? "bottom" : "top";
}

json melody_options_json(const encode::ExtractOptions& o) {
  return {{"voices", voices_name(o)},
          {"min_notes", o.min_notes},
          {"max_interval", o.max_abs_interval},
          {"max_longest_rest", o.max_longest_rest_fraction},
          {"min_pitches", o.min_distinct_pitches},
          {"max_repeat_fraction", o.max_repeat_fraction},
          {"max_repeat_run", o.max_repeat_run},
          {"max_total_rest", o.max_total_rest_fraction},
          {"keep_short_rests", !o.drop_short_rests},
          {"keep_percussion", !o.skip_percussion}};
}

json harmony_options_json(const encode::HarmonyOptions& o) {
  return {{"min_notes", o.min_notes},
          {"min_activity", o.min_activity},
          {"max_gap", o.max_gap},
          {"step_s", o.step_seconds},
          {"average_tempo", o.average_tempo},
          {"steps_per_beat", o.steps_per_beat},
          {"remove_silences", o.remove_silences},
          {"legato_fix", o.legato_fix},
          {"min_steps", o.min_steps}};
}

// Counts shared by both modes; `lines[i]` are outcome i's kept lines.
template <class Outcome>
void count(ExtractSummary& s, const std::vector<Outcome>& outcomes,
           const std::vector<const std::vector<std::string>*>& lines,
           const std::vector<bool>& valid) {
  s.files = outcomes.size();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome& o = outcomes[i];
    if (!o.ok) {
      ++s.failed;
      s.errors.push_back(o.error);
    }
    if (!o.repairs.empty()) {
      s.repaired.push_back({o.source, o.repairs});
      add_repair_counts(s.repairs, o.repairs);
    }
    s.notes += o.notes;
    s.bytes += o.bytes;
    if (!lines[i]->empty()) ++(valid[i] ? s.valid_files : s.train_files);
  }
}

// The report's repair totals, added to its "totals".
void add_repair_totals(json& totals, const ExtractSummary& s) {
  totals["files_repaired"] = s.repaired.size();
  totals["repairs"] = s.repairs.total;
  totals["repairs_by_kind"] = repairs_by_kind_json(s.repairs);
}

json melody_report(const ExtractJob& job, const std::vector<FileOutcome>& outcomes,
                   const std::vector<bool>& valid, const ExtractSummary& s) {
  using Reason = encode::Rejection;
  const bool split = job.valid_fraction > 0.0;
  json r;
  r["command"] = "extract";
  r["format"] = job.format;
  r["read_mode"] = job.read_mode;
  r["inputs"] = job.inputs;
  r["options"] = melody_options_json(job.melody);
  r["totals"] = {{"files", s.files},
                 {"files_read", s.files - s.failed},
                 {"files_failed", s.failed},
                 {"bytes", s.bytes},
                 {"tracks", s.melody.tracks},
                 {"notes", s.notes},
                 {"sequences", s.melody.sequences},
                 {"percussion_skipped", s.melody.percussion_skipped},
                 {"melodies_kept", s.melody.kept},
                 {"rejected", rejected_json<encode::ExtractStats, Reason>(s.melody)}};
  add_repair_totals(r["totals"], s);
  json failed = json::array(), files = json::array();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const FileOutcome& o = outcomes[i];
    if (!o.ok) failed.push_back({{"source", o.source}, {"error", o.error}});
    json f = {{"source", o.source},
              {"ok", o.ok},
              {"bytes", o.bytes},
              {"tracks", o.tracks},
              {"notes", o.notes},
              {"sequences", o.stats.sequences},
              {"percussion_skipped", o.stats.percussion_skipped},
              {"melodies_kept", o.melodies.size()},
              {"rejected", rejected_json<encode::ExtractStats, Reason>(o.stats)},
              {"repairs", o.repairs}};
    if (!o.ok) f["error"] = o.error;
    if (split) f["set"] = valid[i] ? "valid" : "train";
    files.push_back(std::move(f));
  }
  r["failed"] = std::move(failed);
  json outputs = {{"melodies", job.output.string()}, {"melodies_count", s.train_lines}};
  if (split) {
    outputs["valid"] = job.valid_output.string();
    outputs["valid_count"] = s.valid_lines;
    outputs["valid_fraction"] = job.valid_fraction;
    outputs["seed"] = job.seed;
    outputs["train_files"] = s.train_files;
    outputs["valid_files"] = s.valid_files;
  }
  r["outputs"] = std::move(outputs);
  r["files"] = std::move(files);
  return r;
}

json harmony_report(const ExtractJob& job, const std::vector<HarmonyFileOutcome>& outcomes,
                    const std::vector<bool>& valid, const ExtractSummary& s) {
  const bool split = job.valid_fraction > 0.0;
  json files = json::array();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const auto& o = outcomes[i];
    json f = {{"source", o.source},     {"ok", o.ok},           {"voices", o.stats.voices},
              {"pairs", o.stats.pairs}, {"kept", o.stats.kept}, {"repairs", o.repairs}};
    if (!o.ok) f["error"] = o.error;
    if (split) f["set"] = valid[i] ? "valid" : "train";
    files.push_back(std::move(f));
  }
  json r = {
      {"command", "extract"},
      {"mode", "harmonies"},
      {"format", job.format},
      {"read_mode", job.read_mode},
      {"inputs", job.inputs},
      {"options", harmony_options_json(job.harmony)},
      {"totals",
       {{"files", s.files},
        {"files_failed", s.failed},
        {"files_kept", s.train_files + s.valid_files},
        {"voices", s.harmony.voices},
        {"pairs", s.harmony.pairs},
        {"kept", s.harmony.kept},
        {"rejected", rejected_json<encode::HarmonyStats, encode::HarmonyRejection>(s.harmony)}}},
      {"outputs", {{"harmonies", job.output.string()}, {"harmonies_count", s.train_lines}}},
      {"files", std::move(files)}};
  add_repair_totals(r["totals"], s);
  if (split) {
    r["outputs"]["valid"] = job.valid_output.string();
    r["outputs"]["valid_count"] = s.valid_lines;
  }
  return r;
}

// Splits, writes the line files and the report; `header` opens each line file.
template <class Outcome, class Report>
ExtractSummary finish(const ExtractJob& job, const std::vector<Outcome>& outcomes,
                      const std::vector<const std::vector<std::string>*>& lines,
                      const std::string& header, ExtractSummary s, Report report) {
  std::vector<bool> gave_lines(outcomes.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) gave_lines[i] = !lines[i]->empty();
  const std::vector<bool> valid = split_by_source(gave_lines, job.valid_fraction, job.seed);
  write_file_atomic(job.output, join_lines(header, outcomes, lines, valid, false, s.train_lines));
  if (job.valid_fraction > 0.0)
    write_file_atomic(job.valid_output,
                      join_lines(header, outcomes, lines, valid, true, s.valid_lines));
  count(s, outcomes, lines, valid);
  if (!job.report.empty())
    write_file_atomic(job.report, report(job, outcomes, valid, s).dump(2) + "\n");
  return s;
}

}  // namespace

ExtractSummary run_extract_job(const ExtractJob& job, const FileDoneFn& on_done,
                               const std::function<void(std::size_t)>& on_found) {
  // Fail on bad paths before reading anything.
  const auto files = midi::find_midi_files(job.inputs);
  if (files.empty()) {
    std::string list;
    for (const auto& i : job.inputs) list += (list.empty() ? "" : ", ") + i;
    throw IoError("no MIDI files (*.mid, *.midi, *.rmi, *.kar) found in " + list);
  }
  check_writable(job.output);
  if (job.valid_fraction > 0.0) check_writable(job.valid_output);
  if (!job.report.empty()) check_writable(job.report);
  if (on_found) on_found(files.size());

  ExtractSummary s;
  if (job.harmonies) {
    const auto outcomes =
        extract_harmony_files(files, job.harmony, encode::harmony_codec_by_name(job.format),
                              job.jobs, on_done, job.read_mode);
    std::vector<const std::vector<std::string>*> lines;
    for (const auto& o : outcomes) {
      lines.push_back(&o.lines);
      s.harmony += o.stats;
    }
    const std::string header =
        harmonies_header(job.format) + "\n" + harmonies_grid_comment(job.harmony) + "\n";
    return finish(job, outcomes, lines, header, std::move(s), harmony_report);
  }
  const auto outcomes = extract_files(files, job.melody, encode::codec_by_name(job.format),
                                      job.jobs, on_done, job.read_mode);
  std::vector<const std::vector<std::string>*> lines;
  for (const auto& o : outcomes) lines.push_back(&o.melodies);
  s.melody = total_stats(outcomes);
  return finish(job, outcomes, lines, encode::melodies_header(job.format) + "\n", std::move(s),
                melody_report);
}

}  // namespace melodl::pipeline
