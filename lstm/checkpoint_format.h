// lstm/checkpoint_format.h: the layout constants of a melodl checkpoint file (safetensors
// with melodl's integrity fields; docs/checkpoints.md) and the small helpers its writer
// (lstm/checkpoint_file.cpp) and its verifying reader (lstm/checkpoint_read.cpp) share.
// Internal to melodl::lstm (not installed); the public API is lstm/checkpoint_file.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lstm/checkpoint_file.h"

namespace melodl::lstm::checkpoint_format {

using Json = nlohmann::ordered_json;  // keeps the file's key order (= tensor write order)

inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // same bound as safetensors
inline constexpr std::string_view kMetadataKey = "__metadata__";
inline constexpr std::string_view kFormatKey = "melodl.format";
inline constexpr std::string_view kFormatVersion = "1";
inline constexpr std::string_view kTensorCrcPrefix = "melodl.crc32c.";
inline constexpr std::string_view kFileCrcKey = "melodl.file_crc32c";
// How the file checksum field appears in the header bytes; the 8 hex digits follow it.
inline constexpr std::string_view kFileCrcPattern = "\"melodl.file_crc32c\":\"";
inline constexpr std::string_view kCrcPlaceholder = "00000000";
inline constexpr std::size_t kMaxJsonNesting = 4;  // root > tensor entry > shape array, one spare
inline constexpr std::size_t kMaxJsonArray = 64;   // shape dimensions (data_offsets has 2)

// Helpers defined in lstm/checkpoint_file.cpp.

// A checksum as the file spells it: 8 lowercase hex digits.
std::string hex8(std::uint32_t v);
// Whether a metadata key is one of the integrity fields the writer adds and the reader removes.
bool is_reserved_key(std::string_view key);
// "[d0,d1,...]", for error messages.
std::string shape_string(const std::vector<std::int64_t>& shape);
// Number of elements of `shape`; throws (with `what` as context) on a negative dimension or
// when the byte count would not fit in 63 bits.
std::uint64_t checked_elements(const std::vector<std::int64_t>& shape, std::size_t elem_size,
                               const std::string& what);
// The context of error messages about the checkpoint read from or written to `source`.
std::string context_for(std::string_view source);

}  // namespace melodl::lstm::checkpoint_format
