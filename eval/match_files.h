// eval/match_files.h: `melodl match` over files: a melodies (or harmonies) file loaded and
// decoded for matching, the JSON reports of a match run (layout: docs/evaluation.md), and
// the MIDI files that let a listener compare a generated melody with its best match.
// The matching itself is match.h / harmony_match.h; this file is the I/O around it.
//
// Example:
//   auto gen = eval::load_melody_set("samples.txt", "auto", "generated melodies");
//   auto corpus = eval::load_melody_set("melodies.txt", "auto", "corpus");
//   eval::CorpusIndex index(corpus.melodies);
//   auto reports = eval::match_melodies(index, gen.melodies, {});
#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/harmony.h"
#include "encode/melody_file.h"
#include "eval/harmony_match.h"
#include "eval/match.h"
#include "eval/style.h"

namespace melodl::eval {

// A melodies file, decoded with its header's codec (or the one given).
struct MelodySet {
  std::string path;
  std::string format;  // the codec used
  encode::MelodyFile file;
  std::vector<encode::SymbolMelody> melodies;
  // Per line: the skipped / substituted counts. The melody itself is in `melodies` (moved
  // there, so a long line is held once), and decoded[i].melody is empty.
  std::vector<encode::DecodeResult> decoded;
  std::vector<std::size_t> lengths;  // symbols per line
  std::string warning;               // set when --format overrides the header's format
};

// format_flag: "auto" (the header's format, else native) or a codec name. `what` names the
// file in errors ("corpus"). Throws IoError (missing file) or FormatError (no melodies,
// unknown format).
MelodySet load_melody_set(const std::string& path, const std::string& format_flag,
                          const char* what);
// The same for a file already read (`path` names it in messages), so that a caller that
// looked at its header reads it once.
MelodySet load_melody_set(encode::MelodyFile file, const std::string& path,
                          const std::string& format_flag, const char* what);

// A harmonies file, decoded with its header's harmony codec (else native).
struct HarmonySet {
  encode::MelodyFile file;
  std::vector<encode::SymbolHarmony> harmonies;
  std::size_t skipped = 0, symbols = 0;  // invalid symbols skipped or substituted, of all
};

HarmonySet load_harmony_set(const std::string& path, const char* what);
HarmonySet load_harmony_set(encode::MelodyFile file, const std::string& path, const char* what);

// "begin+1-end": a half-open note range printed 1-based and inclusive.
std::string note_range(std::size_t begin, std::size_t end);

// One candidate alignment as JSON (positions 0-based, half-open).
nlohmann::json alignment_json(const MatchCandidate& c, const MelodySet& corpus);

// The report of `melodl match --json` for melodies and for harmonies.
nlohmann::json melody_match_report(const std::string& generated, const std::string& corpus_path,
                                   const MelodySet& gen, const MelodySet& corpus,
                                   const CorpusIndex& index,
                                   const std::vector<MatchReport>& reports,
                                   const AlignmentScoring& scoring, const StyleOverlap& style,
                                   const InvalidRate& invalid, double index_s, double match_s);
nlohmann::json harmony_match_report(const std::string& generated, const std::string& corpus_path,
                                    const HarmonySet& gen, const HarmonyCorpusIndex& index,
                                    const std::vector<HarmonyNovelty>& nov,
                                    const std::vector<MatchReport>& low_reports,
                                    const std::vector<MatchReport>& up_reports, double index_s,
                                    double match_s);

// Writes dir/sample-NNNN.mid (generated melody `index`), and when it has a match,
// -match.mid (the corpus excerpt) and -pair.mid (both excerpts, one after the other, the
// corpus on channel 2), each starting at the pitch the generated excerpt has.
void render_match(const std::filesystem::path& dir, std::size_t index, const MelodySet& gen,
                  const MelodySet& corpus, const CorpusIndex& corpus_index,
                  const MatchReport& report);

}  // namespace melodl::eval
