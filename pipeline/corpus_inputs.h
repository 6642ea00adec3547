// pipeline/corpus_inputs.h: the training lines of `melodl train` and `melodl eval` from what
// the user names: melodies / harmonies files of `melodl extract`, or MIDI files and folders
// extracted on the fly with the encode defaults (read in recover mode unless told strict).
// Progress, recovered and skipped files are reported through callbacks; the caller prints. Tests:
// tests/pipeline/corpus_test.cpp, tests/pipeline/run_test.cpp (the commands).
//
// Example:
//   melodl::pipeline::InputEvents events;
//   events.skipped = [](const std::string& src, const std::string& why) { log(src, why); };
//   auto corpus = melodl::pipeline::load_corpus({"bach.txt", "data/more"}, 0,
//                                               melodl::pipeline::LineKind::melody, events);
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "midi/reader.h"
#include "pipeline/corpus.h"

namespace melodl::pipeline {

// What loading reports while it extracts MIDI inputs (all optional).
struct InputEvents {
  // MIDI files found under the inputs, before they are read (not called without MIDI inputs).
  std::function<void(std::size_t files)> extracting;
  // After each MIDI file (files done, its source); from worker threads, concurrently.
  std::function<void(std::size_t done, const std::string& source)> file_done;
  // After the last MIDI file, before any `skipped`.
  std::function<void()> extracted;
  // A MIDI file that could not be read (it gives no lines).
  std::function<void(const std::string& source, const std::string& error)> skipped;
  // Recover mode: a MIDI file read with repairs (its lines are used); before any `skipped`.
  std::function<void(const std::string& source, const midi::Repairs& repairs)> recovered;
};

// The kind of lines a melodies/harmonies file holds by its header (melody when it has no
// harmonies header, or is a MIDI file / folder, or does not exist).
LineKind input_kind(const std::string& input);

// Each input: a directory or a MIDI file (read in `mode` and extracted with `jobs` threads,
// 0 = all cores, with the encode defaults, native format) or a melodies file from `melodl extract`
// (must be native format). With kind == harmony: two-part harmonies instead (MIDI extracted with
// the harmony defaults; harmonies files of `melodl extract --harmonies` in the native or the
// original-harmony format, converted to native; a harmonies file without a header is read
// as native when it holds a '<', else as original-harmony).
// Throws IoError for a missing input, InvalidArgument for a non-native melodies file or a
// file of the other kind (naming the flag that reads it).
std::vector<CorpusEntry> load_corpus_entries(const std::vector<std::string>& inputs, unsigned jobs,
                                             LineKind kind, const InputEvents& events = {},
                                             midi::ReadMode mode = midi::ReadMode::recover);

// The corpus of `inputs`; throws InvalidArgument naming the inputs when no line is usable.
Corpus load_corpus(const std::vector<std::string>& inputs, unsigned jobs, LineKind kind,
                   const InputEvents& events = {}, midi::ReadMode mode = midi::ReadMode::recover);

}  // namespace melodl::pipeline
