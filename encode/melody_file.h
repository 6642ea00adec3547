// encode/melody_file.h: the melodies text file `melodl extract` writes and
// `melodl render` / `melodl train` read. One melody per line (a codec's string),
// each preceded by a provenance comment; the first line names the format:
//
//   // melodl melodies format=native version=1
//   // track=1 channel=0 program=0 voice=top start_pitch=62 unit_ticks=60 unit_s=0.0625
//   source=bach/x.mid <melody string>
//
// Comment lines start with "//" (MELODL4J v2+ trainers skip them too); `source=` is
// last and takes the rest of the line, so paths may contain spaces. The reader also
// understands MELODL4J's own comments ("// Track = ..., Instrument = I, StartNote = P")
// and skips blank lines. ('#' is a v1 interval symbol, so '#' lines are melodies.)
//
// What is not a melodies file is refused with one FormatError naming the file (exact rule
// in docs/formats.md section 7): binary content (a NUL byte anywhere, or invalid UTF-8
// outside `//` comments) always; and, when the file has no format line (hand-written or
// MELODL4J files), lines that do not decode as melodies of one codec (native or
// melodl4j-v1) beyond 1 line in kMaxInvalidLinesPer. Files with a format line (all that
// melodl writes) keep tolerant decoding: the codec skips and counts invalid symbols.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "encode/melody.h"

namespace melodl::encode {

inline constexpr std::string_view kMelodiesHeaderPrefix = "// melodl melodies format=";
// `melodl extract --harmonies` writes the same layout with this header (one two-part
// harmony per line; docs/formats.md section 6).
inline constexpr std::string_view kHarmoniesHeaderPrefix = "// melodl harmonies format=";

// Provenance of one melody; -1 / empty where the file did not say.
struct MelodyMeta {
  std::string source;
  int track = -1;
  int channel = -1;
  int program = -1;
  std::string voice;
  int start_pitch = -1;
  double unit_ticks = 0.0;
  double unit_s = 0.0;
};

struct MelodyRecord {
  MelodyMeta meta;
  std::string text;             // the codec string
  std::size_t line_number = 0;  // 1-based, in the file
};

struct MelodyFile {
  std::string format;      // from the header line; empty when there was none
  bool harmonies = false;  // the header was a harmonies header
  std::vector<MelodyRecord> melodies;
};

// "// melodl melodies format=<format> version=1"
std::string melodies_header(std::string_view format);
// "// track=... source=..." for one extracted melody (no newline).
std::string provenance_comment(const encode::ExtractedMelody& melody, std::string_view source);
// Parses a provenance comment (ours or MELODL4J's); fields not present stay unset.
MelodyMeta parse_provenance(std::string_view comment);

// Without a format line, a line is a melody under a codec when it decodes to at least one
// note with at most this fraction of its characters skipped or substituted...
struct InvalidFraction {
  std::size_t numerator, denominator;
};
inline constexpr InvalidFraction kMaxInvalidPerLine{1, 4};
// ...and at most lines / kMaxInvalidLinesPer lines (rounded down) may fail that test.
inline constexpr std::size_t kMaxInvalidLinesPer = 100;

// The longest line (characters) a melodies or harmonies file may hold. A line costs every
// command tens of bytes of memory per symbol (decoded steps, notes, ids, training windows,
// match indexes): a 50 MB line needed 1.6 GB to train on. Real lines are thousands of symbols.
inline constexpr std::size_t kMaxLineSymbols = 1'000'000;

// Parses a melodies or harmonies file; `name` (the path) is named in errors. Throws
// FormatError for what is not one (see above) and for a line longer than kMaxLineSymbols
// ("<name>:<line>: a line of N symbols; ...").
MelodyFile parse_melody_file(std::string_view text, std::string_view name = "<text>");
// Reads and parses; throws IoError / FormatError naming the path.
MelodyFile read_melody_file(const std::filesystem::path& path);

}  // namespace melodl::encode
