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

struct DecodeResult {
  SymbolMelody melody;
  std::size_t skipped = 0;  // invalid or out-of-place symbols ignored
};

class Codec {
 public:
  virtual ~Codec() = default;
  virtual std::string_view name() const = 0;  // "native" or "melodl4j-v1"
  // One melody as one line (no newline).
  virtual std::string encode(const SymbolMelody& melody) const = 0;
  virtual DecodeResult decode(std::string_view line) const = 0;
  // Every symbol the format can contain, in a fixed order (the LSTM vocabulary).
  virtual std::vector<char> alphabet() const = 0;
};

const Codec& native_codec();
const Codec& melodl4j_v1_codec();
// By name: "native" or "melodl4j-v1"; throws std::invalid_argument otherwise.
const Codec& codec_by_name(std::string_view name);

}  // namespace melodl::encode
