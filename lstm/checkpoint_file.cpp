// lstm/checkpoint_file.cpp: safetensors-layout checkpoint files with CRC-32C integrity, the
// tensor helpers and the writer. Layout and checksum definitions: docs/checkpoints.md; layout
// constants shared with the verifying reader (lstm/checkpoint_read.cpp):
// lstm/checkpoint_format.h. Structure of this file: CRC-32C; tensor helpers (make_tensor,
// as_*); header building and serialisation; the writer (base/files.h's AtomicFile).
#include "lstm/checkpoint_file.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

#include "base/files.h"
#include "lstm/checkpoint_format.h"
#include "lstm/half.h"

namespace melodl::lstm {

using namespace checkpoint_format;  // layout constants and shared helpers

namespace {

// ---- CRC-32C, slicing-by-8 ---------------------------------------------------------------

using CrcTables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1u) != 0 ? 0x82F63B78u : 0u);
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s) {
    for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
  return t;
}

constexpr CrcTables kCrcTables = make_crc_tables();

std::uint32_t load_le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// ---- tensors --------------------------------------------------------------------------------

template <class T>
void swap_elements_if_big_endian([[maybe_unused]] std::uint8_t* bytes,
                                 [[maybe_unused]] std::size_t count) {
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    for (std::size_t i = 0; i < count; ++i)
      std::reverse(bytes + i * sizeof(T), bytes + (i + 1) * sizeof(T));
  }
}

template <class T>
NamedTensor make_tensor_impl(std::string name, DType dtype, std::span<const T> data,
                             std::vector<std::int64_t> shape) {
  const std::uint64_t n = checked_elements(shape, sizeof(T), "tensor '" + name + "'");
  if (n != data.size()) {
    throw CheckpointError("tensor '" + name + "': shape " + shape_string(shape) + " has " +
                          std::to_string(n) + " elements but " + std::to_string(data.size()) +
                          " values were given");
  }
  NamedTensor t{std::move(name), dtype, std::move(shape), {}};
  t.bytes.resize(data.size() * sizeof(T));
  if (!data.empty()) std::memcpy(t.bytes.data(), data.data(), t.bytes.size());
  swap_elements_if_big_endian<T>(t.bytes.data(), data.size());
  return t;
}

template <class T>
std::vector<T> as_values(const NamedTensor& t, DType expected) {
  if (t.dtype != expected) {
    throw CheckpointError("tensor '" + t.name + "' has dtype " + std::string(dtype_name(t.dtype)) +
                          ", not " + std::string(dtype_name(expected)));
  }
  const std::uint64_t n = checked_elements(t.shape, sizeof(T), "tensor '" + t.name + "'");
  if (n * sizeof(T) != t.bytes.size()) {
    throw CheckpointError("tensor '" + t.name + "': shape " + shape_string(t.shape) + " needs " +
                          std::to_string(n * sizeof(T)) + " bytes but it holds " +
                          std::to_string(t.bytes.size()));
  }
  std::vector<T> out(n);
  if (n != 0) std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  swap_elements_if_big_endian<T>(reinterpret_cast<std::uint8_t*>(out.data()), out.size());
  return out;
}

// ---- serialisation ------------------------------------------------------------------------

void put_le64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// The finished header (padded, file checksum filled in) and the 8-byte length prefix.
struct Encoded {
  std::array<std::uint8_t, 8> prefix{};
  std::string header;
};

Encoded encode_header(const CheckpointFile& file, const std::string& ctx) {
  std::set<std::string_view> names;
  for (const NamedTensor& t : file.tensors) {
    if (t.name.empty()) throw CheckpointError(ctx + ": a tensor has an empty name");
    if (t.name == kMetadataKey)
      throw CheckpointError(ctx + ": '__metadata__' is not a tensor name");
    if (!names.insert(t.name).second) {
      throw CheckpointError(ctx + ": duplicate tensor name '" + t.name + "'");
    }
    const std::string what = ctx + ": tensor '" + t.name + "'";
    const std::uint64_t n = checked_elements(t.shape, dtype_size(t.dtype), what);
    if (n * dtype_size(t.dtype) != t.bytes.size()) {
      throw CheckpointError(what + ": shape " + shape_string(t.shape) + " of dtype " +
                            std::string(dtype_name(t.dtype)) + " needs " +
                            std::to_string(n * dtype_size(t.dtype)) + " bytes but it holds " +
                            std::to_string(t.bytes.size()));
    }
  }
  for (const auto& [key, value] : file.metadata) {
    if (is_reserved_key(key)) {
      throw CheckpointError(ctx + ": metadata key '" + key + "' is reserved for integrity fields");
    }
  }

  Json meta = Json::object();
  meta[std::string(kFormatKey)] = kFormatVersion;
  for (const auto& [key, value] : file.metadata) meta[key] = value;
  for (const NamedTensor& t : file.tensors) {
    meta[std::string(kTensorCrcPrefix) + t.name] = hex8(crc32c(t.bytes));
  }
  meta[std::string(kFileCrcKey)] = kCrcPlaceholder;
  Json header = Json::object();
  header[std::string(kMetadataKey)] = std::move(meta);
  std::uint64_t offset = 0;
  for (const NamedTensor& t : file.tensors) {
    Json entry = Json::object();
    entry["dtype"] = dtype_name(t.dtype);
    entry["shape"] = t.shape;
    entry["data_offsets"] = Json::array({offset, offset + t.bytes.size()});
    header[t.name] = std::move(entry);
    offset += t.bytes.size();
  }

  Encoded enc;
  try {
    enc.header = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(ctx + ": a tensor name or metadata string is not valid UTF-8 (" +
                          e.what() + ")");
  }
  // The reader finds the file checksum by this pattern; it must be unambiguous.
  const std::size_t pos = enc.header.find(kFileCrcPattern);
  if (pos == std::string::npos || enc.header.find(kFileCrcPattern, pos + 1) != std::string::npos) {
    throw CheckpointError(ctx + ": a tensor name or metadata key contains the reserved text '" +
                          std::string(kFileCrcKey) + "'");
  }
  enc.header.append((8 - enc.header.size() % 8) % 8, ' ');  // 8-byte aligned data, as safetensors
  put_le64(enc.prefix.data(), enc.header.size());

  std::uint32_t crc = crc32c(enc.prefix);
  crc = crc32c({reinterpret_cast<const std::uint8_t*>(enc.header.data()), enc.header.size()}, crc);
  for (const NamedTensor& t : file.tensors) crc = crc32c(t.bytes, crc);
  enc.header.replace(pos + kFileCrcPattern.size(), kCrcPlaceholder.size(), hex8(crc));
  return enc;
}

}  // namespace

// ---- helpers shared with the reader (lstm/checkpoint_format.h) ----------------------------

namespace checkpoint_format {

std::string hex8(std::uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kDigits[v & 0xF];
  return s;
}

bool is_reserved_key(std::string_view key) {
  return key == kFormatKey || key == kFileCrcKey || key.starts_with(kTensorCrcPrefix);
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::uint64_t checked_elements(const std::vector<std::int64_t>& shape, std::size_t elem_size,
                               const std::string& what) {
  constexpr std::uint64_t kLimit = std::uint64_t{1} << 62;
  std::uint64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) throw CheckpointError(what + ": negative dimension in shape " + shape_string(shape));
    const auto du = static_cast<std::uint64_t>(d);
    if (du != 0 && n > kLimit / elem_size / du) {
      throw CheckpointError(what + ": shape " + shape_string(shape) + " is too large");
    }
    n *= du;
  }
  return n;
}

std::string context_for(std::string_view source) {
  return "checkpoint '" + std::string(source) + "'";
}

}  // namespace checkpoint_format

// ---- public API ---------------------------------------------------------------------------

std::uint32_t crc32c(std::span<const std::uint8_t> data, std::uint32_t crc) {
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  crc = ~crc;
  while (n >= 8) {
    const std::uint32_t lo = crc ^ load_le32(p);
    const std::uint32_t hi = load_le32(p + 4);
    crc = kCrcTables[7][lo & 0xFF] ^ kCrcTables[6][(lo >> 8) & 0xFF] ^
          kCrcTables[5][(lo >> 16) & 0xFF] ^ kCrcTables[4][lo >> 24] ^ kCrcTables[3][hi & 0xFF] ^
          kCrcTables[2][(hi >> 8) & 0xFF] ^ kCrcTables[1][(hi >> 16) & 0xFF] ^
          kCrcTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ kCrcTables[0][(crc ^ *p++) & 0xFF];
  return ~crc;
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32:
    case DType::i32:
      return 4;
    case DType::f64:
    case DType::i64:
      return 8;
    case DType::u8:
      return 1;
    case DType::f16:
    case DType::bf16:
      return 2;
  }
  throw CheckpointError("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
    case DType::i32:
      return "I32";
    case DType::i64:
      return "I64";
    case DType::u8:
      return "U8";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
  }
  throw CheckpointError("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

NamedTensor make_tensor(std::string name, std::span<const float> data,
                        std::vector<std::int64_t> shape) {
  return make_tensor_impl(std::move(name), DType::f32, data, std::move(shape));
}
NamedTensor make_tensor(std::string name, std::span<const double> data,
                        std::vector<std::int64_t> shape) {
  return make_tensor_impl(std::move(name), DType::f64, data, std::move(shape));
}
NamedTensor make_tensor(std::string name, std::span<const std::int32_t> data,
                        std::vector<std::int64_t> shape) {
  return make_tensor_impl(std::move(name), DType::i32, data, std::move(shape));
}
NamedTensor make_tensor(std::string name, std::span<const std::int64_t> data,
                        std::vector<std::int64_t> shape) {
  return make_tensor_impl(std::move(name), DType::i64, data, std::move(shape));
}
NamedTensor make_tensor(std::string name, std::span<const std::uint8_t> data,
                        std::vector<std::int64_t> shape) {
  return make_tensor_impl(std::move(name), DType::u8, data, std::move(shape));
}

NamedTensor make_tensor(std::string name, std::span<const float> data,
                        std::vector<std::int64_t> shape, DType storage) {
  if (storage == DType::f32) return make_tensor(std::move(name), data, std::move(shape));
  if (storage != DType::f16 && storage != DType::bf16) {
    throw CheckpointError("tensor '" + name + "': float values cannot be stored as " +
                          std::string(dtype_name(storage)));
  }
  std::vector<std::uint16_t> bits(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    bits[i] = storage == DType::f16 ? float_to_f16(data[i]) : float_to_bf16(data[i]);
    const bool overflow = std::isfinite(data[i]) &&
                          (bits[i] & 0x7FFFu) == (storage == DType::f16 ? 0x7C00u : 0x7F80u);
    if (overflow) {
      throw CheckpointError("tensor '" + name + "': value " + std::to_string(data[i]) +
                            " at element " + std::to_string(i) + " is out of the range of " +
                            std::string(dtype_name(storage)));
    }
  }
  const std::uint64_t n = checked_elements(shape, 2, "tensor '" + name + "'");
  if (n != data.size()) {
    throw CheckpointError("tensor '" + name + "': shape " + shape_string(shape) + " has " +
                          std::to_string(n) + " elements but " + std::to_string(data.size()) +
                          " values were given");
  }
  NamedTensor t{std::move(name), storage, std::move(shape), {}};
  t.bytes.resize(bits.size() * 2);
  for (std::size_t i = 0; i < bits.size(); ++i) {  // little-endian on any host
    t.bytes[2 * i] = static_cast<std::uint8_t>(bits[i] & 0xFF);
    t.bytes[2 * i + 1] = static_cast<std::uint8_t>(bits[i] >> 8);
  }
  return t;
}

std::vector<float> as_floats(const NamedTensor& t) {
  if (t.dtype != DType::f16 && t.dtype != DType::bf16) return as_values<float>(t, DType::f32);
  const std::uint64_t n = checked_elements(t.shape, 2, "tensor '" + t.name + "'");
  if (n * 2 != t.bytes.size()) {
    throw CheckpointError("tensor '" + t.name + "': shape " + shape_string(t.shape) + " needs " +
                          std::to_string(n * 2) + " bytes but it holds " +
                          std::to_string(t.bytes.size()));
  }
  std::vector<float> out(n);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto bits = static_cast<std::uint16_t>(t.bytes[2 * i] | t.bytes[2 * i + 1] << 8);
    out[i] = t.dtype == DType::f16 ? f16_to_float(bits) : bf16_to_float(bits);
  }
  return out;
}
std::vector<double> as_doubles(const NamedTensor& t) { return as_values<double>(t, DType::f64); }
std::vector<std::int32_t> as_int32s(const NamedTensor& t) {
  return as_values<std::int32_t>(t, DType::i32);
}
std::vector<std::int64_t> as_int64s(const NamedTensor& t) {
  return as_values<std::int64_t>(t, DType::i64);
}
std::vector<std::uint8_t> as_uint8s(const NamedTensor& t) {
  return as_values<std::uint8_t>(t, DType::u8);
}

const NamedTensor& find_tensor(const CheckpointFile& file, std::string_view name) {
  for (const NamedTensor& t : file.tensors) {
    if (t.name == name) return t;
  }
  throw CheckpointError("checkpoint has no tensor named '" + std::string(name) + "'");
}

std::vector<std::uint8_t> serialize_checkpoint(const CheckpointFile& file) {
  const Encoded enc = encode_header(file, context_for("<memory>"));
  std::size_t total = enc.prefix.size() + enc.header.size();
  for (const NamedTensor& t : file.tensors) total += t.bytes.size();
  // Sized once and filled with memcpy (vector::insert here trips a GCC 12 -Warray-bounds
  // false positive).
  std::vector<std::uint8_t> out(total);
  std::uint8_t* p = out.data();
  std::memcpy(p, enc.prefix.data(), enc.prefix.size());
  p += enc.prefix.size();
  std::memcpy(p, enc.header.data(), enc.header.size());
  p += enc.header.size();
  for (const NamedTensor& t : file.tensors) {
    if (!t.bytes.empty()) std::memcpy(p, t.bytes.data(), t.bytes.size());
    p += t.bytes.size();
  }
  return out;
}

void write_checkpoint_file(const std::filesystem::path& path, const CheckpointFile& file,
                           const CancelCheck& cancel) {
  const std::string ctx = context_for(path.string());
  const Encoded enc = encode_header(file, ctx);  // validates before touching the disk
  if (cancel && cancel())
    throw WriteCancelled("writing " + path.string() + " abandoned (cancelled)");

  const std::string base = path.filename().string();
  if (base.empty() || base == "." || base == "..") {
    throw CheckpointError(ctx + ": not a file name");
  }
  // Unlike other outputs, a checkpoint goes into an existing folder only (the run directory).
  const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw CheckpointError(ctx + ": cannot create temporary file in '" + dir.string() +
                          "': no such directory");
  }
  // The one atomic writer (base/files.h): temporary file beside the target, fsync, close,
  // rename, folder fsync, every step checked; not committed, the temporary file is removed.
  std::optional<AtomicFile> out;
  try {
    out.emplace(path, 0666, cancel);
  } catch (const IoError& e) {
    throw CheckpointError(ctx + ": cannot create temporary file: " + e.what());
  }
  try {
    out->write({reinterpret_cast<const char*>(enc.prefix.data()), enc.prefix.size()});
    out->write(enc.header);
    for (const NamedTensor& t : file.tensors) {
      out->write({reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size()});
    }
  } catch (const WriteCancelled&) {
    throw;
  } catch (const IoError& e) {
    throw CheckpointError(ctx + ": cannot write temporary file: " + e.what());
  }
  try {
    out->commit();
  } catch (const WriteCancelled&) {
    throw;
  } catch (const IoError& e) {
    throw CheckpointError(ctx + ": " + e.what());
  }
}

}  // namespace melodl::lstm
