// pipeline/repair_report.h: how the pipeline reports what the MIDI reader repaired
// (midi/reader.h, docs/midi.md "Recovery"): the JSON of a read mode and of a file's repairs in the
// `melodl extract --report` file, repair counts summed over files, and the warning line of
// one repair (`melodl extract -v`). Tests: tests/pipeline/extract_recover_test.cpp.
//
// Example:
//   auto r = melodl::midi::read_file(path, melodl::midi::ReadMode::recover);
//   nlohmann::json j = r->repairs;   // {"total": 2, "by_kind": {...}, "items": [...]}
//   for (auto& line : melodl::pipeline::repair_warnings(path.string(), r->repairs)) log(line);
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "midi/reader.h"

// A repair kind is its stable name (midi::repair_kind_name); reading an unknown name throws
// melodl::FormatError.
template <>
struct nlohmann::adl_serializer<melodl::midi::RepairKind> {
  static void to_json(json& j, melodl::midi::RepairKind kind);
  static void from_json(const json& j, melodl::midi::RepairKind& kind);
};

namespace melodl::midi {

// "strict" or "recover".
NLOHMANN_JSON_SERIALIZE_ENUM(ReadMode,
                             {{ReadMode::strict, "strict"}, {ReadMode::recover, "recover"}})

// {"kind": "truncated", "offset": 812, "track": 1, "tick": 3840, "bytes_dropped": 5,
//  "notes_closed": 1, "detail": "..."}; offset, track, tick are -1 where not tied to one.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Repair, kind, offset, track, tick, bytes_dropped, notes_closed,
                                   detail)

// {"total": 7, "by_kind": {"truncated": 1, ...} (the kinds that occurred), "items": [...]}
// (items: at most ReadLimits::max_repairs; total counts them all).
void to_json(nlohmann::json& j, const Repairs& repairs);
void from_json(const nlohmann::json& j, Repairs& repairs);

}  // namespace melodl::midi

namespace melodl::pipeline {

// {"truncated": 1, ...}: the kinds with a non-zero count.
nlohmann::json repairs_by_kind_json(const midi::Repairs& repairs);

// "chunk_past_end 1, truncated 1": the kinds with a non-zero count, in RepairKind order.
std::string repair_counts_text(const midi::Repairs& repairs);

// Adds the counts of `file` (total, by kind; not the items) to `sum`.
void add_repair_counts(midi::Repairs& sum, const midi::Repairs& file);

// "x.mid: offset 812: track 2: <detail> (truncated)" (tracks numbered from 1, as in the
// reader's details); no offset or track part where the repair has none.
std::string repair_warning(std::string_view source, const midi::Repair& repair);
// One warning per itemised repair, then, when the reader itemised fewer than it made,
// "x.mid: N more repairs not itemised".
std::vector<std::string> repair_warnings(std::string_view source, const midi::Repairs& repairs);

}  // namespace melodl::pipeline
