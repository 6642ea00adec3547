// pipeline/corpus_inputs.cpp: see corpus_inputs.h.
#include "pipeline/corpus_inputs.h"

#include <algorithm>
#include <atomic>
#include <filesystem>

#include "base/error.h"
#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody_file.h"
#include "midi/files.h"
#include "pipeline/extract_run.h"

namespace melodl::pipeline {

namespace fs = std::filesystem;

namespace {

bool is_midi_input(const std::string& input) {
  std::error_code ec;
  return fs::is_directory(input, ec) || midi::has_midi_extension(input);
}

// The codec that reads a harmonies file's lines: its header's format, else guessed.
const encode::HarmonyCodec& harmonies_codec(const std::string& input,
                                            const encode::MelodyFile& file) {
  std::string format = file.format;
  if (format.empty()) {
    const bool native = std::any_of(file.melodies.begin(), file.melodies.end(), [](const auto& r) {
      return r.text.find('<') != std::string::npos;
    });
    format = native ? "native" : "original-harmony";
  }
  try {
    return encode::harmony_codec_by_name(format);
  } catch (const InvalidArgument&) {
    throw InvalidArgument(input + ": harmonies in unknown format '" + format +
                          "' (native or original-harmony)");
  }
}

// The lines of one melodies / harmonies file.
void add_file_lines(const std::string& in, LineKind kind, std::vector<CorpusEntry>& entries) {
  const bool harmony = kind == LineKind::harmony;
  const encode::MelodyFile file = encode::read_melody_file(in);
  if (file.harmonies && !harmony)
    throw InvalidArgument(in +
                          ": a harmonies file (from `melodl extract --harmonies`); train on it "
                          "with `melodl train --harmonies`");
  if (harmony && !file.harmonies && !file.format.empty())
    throw InvalidArgument(in +
                          ": a melodies file, not harmonies (make one with `melodl extract "
                          "--harmonies`)");
  if (!harmony && !file.format.empty() && file.format != "native")
    throw InvalidArgument(in + ": melodies in format " + file.format +
                          "; training needs the native format (melodl extract --format native)");
  const encode::HarmonyCodec* codec = harmony ? &harmonies_codec(in, file) : nullptr;
  for (const auto& r : file.melodies) {
    CorpusEntry e;
    e.source = r.meta.source.empty() ? in : r.meta.source;
    e.kind = kind;
    e.text = r.text;
    if (codec && codec != &encode::native_harmony_codec()) {
      // The original format: read it (rests are spaces, so the line is used untrimmed)
      // and store the native line.
      const auto d = codec->decode(r.text);
      if (d.harmony.steps() == 0) continue;
      e.text = encode::native_harmony_codec().encode(d.harmony);
    }
    e.program = r.meta.program;
    e.start_pitch = r.meta.start_pitch;
    entries.push_back(std::move(e));
  }
}

// The outcomes' lines through `add`; files read with repairs (recover mode) are reported as
// recovered, then unreadable files as skipped.
template <class Outcome, class Add>
void add_outcomes(const std::vector<Outcome>& outcomes, midi::ReadMode mode,
                  const InputEvents& events, Add add) {
  if (events.extracted) events.extracted();
  if (mode == midi::ReadMode::recover && events.recovered)
    for (const auto& o : outcomes)
      if (o.ok && !o.repairs.empty()) events.recovered(o.source, o.repairs);
  for (const auto& o : outcomes) {
    if (!o.ok) {
      if (events.skipped) events.skipped(o.source, o.error);
      continue;
    }
    add(o);
  }
}

}  // namespace

LineKind input_kind(const std::string& input) {
  std::error_code ec;
  if (is_midi_input(input) || !fs::exists(input, ec)) return LineKind::melody;
  return encode::read_melody_file(input).harmonies ? LineKind::harmony : LineKind::melody;
}

std::vector<CorpusEntry> load_corpus_entries(const std::vector<std::string>& inputs, unsigned jobs,
                                             LineKind kind, const InputEvents& events,
                                             midi::ReadMode mode) {
  std::vector<CorpusEntry> entries;
  std::vector<std::string> midi_inputs;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (!fs::exists(in, ec)) throw IoError(in + ": no such file or directory");
    if (is_midi_input(in))
      midi_inputs.push_back(in);
    else
      add_file_lines(in, kind, entries);
  }
  if (midi_inputs.empty()) return entries;
  const auto files = midi::find_midi_files(midi_inputs);
  if (events.extracting) events.extracting(files.size());
  std::atomic<std::size_t> done{0};
  const auto report = [&](std::size_t, const std::string& s) {
    const std::size_t n = ++done;
    if (events.file_done) events.file_done(n, s);
  };
  if (kind == LineKind::harmony) {
    add_outcomes(
        extract_harmony_files(files, {}, encode::native_harmony_codec(), jobs, report, mode), mode,
        events, [&](const HarmonyFileOutcome& o) {
          for (const auto& line : o.lines)
            entries.push_back({o.source, line, -1, -1, LineKind::harmony});
        });
  } else {
    add_outcomes(extract_files(files, {}, encode::native_codec(), jobs, report, mode), mode, events,
                 [&](const FileOutcome& o) {
                   for (std::size_t i = 0; i < o.melodies.size(); ++i) {
                     const encode::MelodyMeta meta = encode::parse_provenance(o.comments[i]);
                     entries.push_back({o.source, o.melodies[i], meta.program, meta.start_pitch});
                   }
                 });
  }
  return entries;
}

Corpus load_corpus(const std::vector<std::string>& inputs, unsigned jobs, LineKind kind,
                   const InputEvents& events, midi::ReadMode mode) {
  auto corpus = Corpus::from_entries(load_corpus_entries(inputs, jobs, kind, events, mode));
  if (corpus.melodies().empty()) {
    std::string names;
    for (const auto& i : inputs) names += (names.empty() ? "" : ", ") + i;
    throw InvalidArgument("no usable " +
                          std::string(kind == LineKind::harmony ? "harmonies" : "melodies") +
                          " in " + names + " (empty corpus)");
  }
  return corpus;
}

}  // namespace melodl::pipeline
