// pipeline/extract_run.h: the work behind `melodl extract`, kept out of the command
// file so tests and other subcommands (train) can call it: read every file (in
// parallel, results in input order), extract melodies, encode them, and split the
// source files into train / validation deterministically. Files are read in recover mode
// by default (damaged files give what is readable, their repairs listed; docs/midi.md), or
// strictly (damaged files refused) as `--strict` asks.
//
// Example:
//   auto files = melodl::midi::find_midi_files({"data/bach"});
//   auto outcomes = pipeline::extract_files(files, {}, melodl::encode::native_codec(), 2);
//   auto valid = pipeline::split_by_source(outcomes, 0.1, 42);  // valid[i]: file i -> valid
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody.h"
#include "midi/reader.h"

namespace melodl::pipeline {

// What came of one input file.
struct FileOutcome {
  std::string source;  // the path as found (generic form); in provenance comments
  bool ok = false;
  std::string error;  // LoadError message when !ok
  std::uintmax_t bytes = 0;
  midi::Repairs repairs;  // what the reader repaired (strict mode: the defects it tolerated)
  std::size_t tracks = 0;
  std::size_t notes = 0;
  encode::ExtractStats stats;
  // Provenance comment and codec string of each kept melody, in extraction order.
  std::vector<std::string> comments;
  std::vector<std::string> melodies;
};

// Called after each file with (files done, that file's source); may be called from
// worker threads, concurrently.
using FileDoneFn = std::function<void(std::size_t, const std::string&)>;

// Reads (in `mode`) and extracts every file with `jobs` threads (0 = hardware concurrency).
// Unreadable or malformed files become outcomes with ok=false, never exceptions.
std::vector<FileOutcome> extract_files(const std::vector<std::filesystem::path>& files,
                                       const encode::ExtractOptions& options,
                                       const encode::Codec& codec, unsigned jobs = 0,
                                       const FileDoneFn& on_done = {},
                                       midi::ReadMode mode = midi::ReadMode::recover);

// Chooses validation files: among the files that gave melodies, round(fraction * n)
// of them (at least 1 when fraction > 0 and n >= 2, never all of them), picked by a
// seeded Fisher-Yates shuffle on std::mt19937_64 (same seed, same files, on every
// platform). Returns one flag per outcome: true = validation.
std::vector<bool> split_by_source(const std::vector<FileOutcome>& outcomes, double fraction,
                                  std::uint64_t seed);
// The same over "file i gave lines" flags (any mode).
std::vector<bool> split_by_source(const std::vector<bool>& gave_lines, double fraction,
                                  std::uint64_t seed);

// Sums the stats of all outcomes.
encode::ExtractStats total_stats(const std::vector<FileOutcome>& outcomes);

// ---------------------------------------------------------------------------
// Two-part harmonies (`melodl extract --harmonies`; docs/formats.md section 6).

// What came of one input file in harmony mode.
struct HarmonyFileOutcome {
  std::string source;
  bool ok = false;
  std::string error;
  std::uintmax_t bytes = 0;
  midi::Repairs repairs;
  std::size_t notes = 0;
  encode::HarmonyStats stats;
  std::vector<std::string> comments;  // provenance comment of each kept pair
  std::vector<std::string> lines;     // its harmony line in the chosen format
};

// Reads (in `mode`) every file with `jobs` threads and extracts its harmonies; unreadable
// files become outcomes with ok=false.
std::vector<HarmonyFileOutcome> extract_harmony_files(
    const std::vector<std::filesystem::path>& files, const encode::HarmonyOptions& options,
    const encode::HarmonyCodec& codec, unsigned jobs = 0, const FileDoneFn& on_done = {},
    midi::ReadMode mode = midi::ReadMode::recover);

// "// melodl harmonies format=<format> version=1"
std::string harmonies_header(std::string_view format);
// "// grid step_s=0.0625 tempo=map steps_per_beat=0 remove_silences=1 legato_fix=1"
std::string harmonies_grid_comment(const encode::HarmonyOptions& options);
// "// lower_voice=0 upper_voice=3 lower_program=0 upper_program=0 steps=812
//  step_s=0.0625 source=<path>" (one line; source last).
std::string harmony_provenance_comment(const encode::ExtractedHarmony& h, std::string_view source);

}  // namespace melodl::pipeline
