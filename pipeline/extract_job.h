// pipeline/extract_job.h: one whole `melodl extract` run, melodies or two-part harmonies:
// find the MIDI files under the inputs, check that every output can be written (before
// hours of work), extract in parallel (extract_run.h), split by source file into training
// and validation, write the melodies (or harmonies) files and the optional JSON report, all
// atomically. MIDI files are read in recover mode unless job.read_mode is strict; every
// repair is counted in the summary and listed per file in the report (repair_report.h).
// The program only parses flags and prints the returned summary.
//
// Example:
//   melodl::pipeline::ExtractJob job;
//   job.inputs = {"data/bach"};  job.output = "melodies.txt";  job.valid_fraction = 0.1;
//   auto summary = melodl::pipeline::run_extract_job(job);   // summary.train_lines, ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "encode/harmony.h"
#include "encode/melody.h"
#include "midi/reader.h"
#include "pipeline/extract_run.h"

namespace melodl::pipeline {

struct ExtractJob {
  std::vector<std::string> inputs;     // MIDI files or folders (searched recursively)
  std::filesystem::path output;        // the training lines
  std::filesystem::path valid_output;  // the validation lines, when valid_fraction > 0
  std::filesystem::path report;        // JSON report; empty = none
  std::string format = "native";       // a codec name (encode/codec.h, encode/harmony.h)
  double valid_fraction = 0.0;         // of the SOURCE FILES that gave lines
  std::uint64_t seed = 42;             // of the split
  unsigned jobs = 0;                   // reading threads (0 = one per core)
  bool harmonies = false;              // two-part harmonies instead of melodies
  encode::ExtractOptions melody;       // melodies mode
  encode::HarmonyOptions harmony;      // harmonies mode
  // How MIDI files are read: recover (the default) or strict (`--strict`).
  midi::ReadMode read_mode = midi::ReadMode::recover;
};

// A file read with repairs (recover mode), or with tolerated defects (strict mode).
struct RepairedFile {
  std::string source;
  midi::Repairs repairs;
};

struct ExtractSummary {
  std::size_t files = 0;            // MIDI files found
  std::size_t failed = 0;           // of them unreadable
  std::size_t notes = 0;            // notes read
  std::uintmax_t bytes = 0;         // bytes read
  std::size_t train_lines = 0;      // lines written to output
  std::size_t valid_lines = 0;      // lines written to valid_output
  std::size_t train_files = 0;      // files that gave training lines
  std::size_t valid_files = 0;      // files that gave validation lines
  std::vector<std::string> errors;  // one per unreadable file
  encode::ExtractStats melody;      // melodies mode: totals over all files
  encode::HarmonyStats harmony;     // harmonies mode: totals over all files
  // The files read with repairs, in input order, and their repairs summed (total and
  // by_kind; no items).
  std::vector<RepairedFile> repaired;
  midi::Repairs repairs;
};

// Runs the job: on_found(number of files) once they are found, then on_done after each file
// (from worker threads). Throws IoError when no MIDI file is found or an output cannot be
// written; unreadable MIDI files are counted and listed, never thrown.
ExtractSummary run_extract_job(const ExtractJob& job, const FileDoneFn& on_done = {},
                               const std::function<void(std::size_t)>& on_found = {});

}  // namespace melodl::pipeline
