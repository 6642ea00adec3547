// encode/codec.h: string codecs for symbolic melodies. The native format
// (melodl's own; exact spec in docs/formats.md) and the MELODL4J v1 compatibility
// codec (the original alphabet and its decode quirks). Decoding tolerates invalid
// symbols: they are skipped and counted, since a network will produce them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "encode/melody.h"

namespace melodl::encode {

// A decoded melody is always well formed: empty, or steps[0] a note and the last step
// a note (rests before the first note and after the last one carry no sound and are
// dropped). Several rests in a row are possible.
struct DecodeResult {
  SymbolMelody melody;
  std::size_t skipped = 0;  // invalid or out-of-place symbols ignored
  // Symbols not ignored but given a meaning by a compatibility quirk (melodl4j-v1: an
  // unknown char read as interval -1, a note without its duration char given index 3).
  // Always 0 for the native codec.
  std::size_t substituted = 0;
};

class Codec {
 public:
  virtual ~Codec() = default;
  virtual std::string_view name() const = 0;  // "native" or "melodl4j-v1"
  // One melody as one line (no newline). Throws InvalidArgument for a melody no
  // line can hold: empty, starting or ending with a rest, or a duration outside 0..31.
  // Intervals outside the format's range are folded by octaves (into [-12, 12]).
  virtual std::string encode(const SymbolMelody& melody) const = 0;
  virtual DecodeResult decode(std::string_view line) const = 0;
  // Every symbol the format can contain, in a fixed order (the LSTM vocabulary).
  // native: 60 distinct chars, order in encode/grammar.h. melodl4j-v1: MELODL4J's
  // 59-entry list "pos + neg + durations + R", which holds 'z' twice (indices 46, 48).
  virtual std::vector<char> alphabet() const = 0;
};

const Codec& native_codec();
const Codec& melodl4j_v1_codec();
// By name: "native" or "melodl4j-v1"; throws InvalidArgument otherwise.
const Codec& codec_by_name(std::string_view name);

}  // namespace melodl::encode
