// lstm/checkpoint_file.cpp: safetensors-layout checkpoint files with CRC-32C integrity.
// Layout and checksum definitions: docs/checkpoints.md. Structure of this file: CRC-32C;
// tensor helpers (make_tensor, as_*); header building and serialisation; the writer
// (base/files.h's AtomicFile); the verifying parser (one parser over a byte source: a file
// or memory).
#include "lstm/checkpoint_file.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/files.h"

namespace melodl::lstm {
namespace {

using Json = nlohmann::ordered_json;  // keeps the file's key order (= tensor write order)

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // same bound as safetensors
constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::string_view kFormatKey = "melodl.format";
constexpr std::string_view kFormatVersion = "1";
constexpr std::string_view kTensorCrcPrefix = "melodl.crc32c.";
constexpr std::string_view kFileCrcKey = "melodl.file_crc32c";
// How the file checksum field appears in the header bytes; the 8 hex digits follow it.
constexpr std::string_view kFileCrcPattern = "\"melodl.file_crc32c\":\"";
constexpr std::string_view kCrcPlaceholder = "00000000";
constexpr std::size_t kMaxJsonNesting = 4;  // root > tensor entry > shape array, one spare
constexpr std::size_t kMaxJsonArray = 64;   // shape dimensions (data_offsets has 2)

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

std::string hex8(std::uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(8, '0');
  for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kDigits[v & 0xF];
  return s;
}

bool is_crc_string(const std::string& s) {
  return s.size() == 8 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_reserved_key(std::string_view key) {
  return key == kFormatKey || key == kFileCrcKey || key.starts_with(kTensorCrcPrefix);
}

// ---- tensors --------------------------------------------------------------------------------

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Number of elements of `shape`; throws (with `what` as context) on a negative dimension or
// when the byte count would not fit in 63 bits.
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

std::string context_for(std::string_view source) {
  return "checkpoint '" + std::string(source) + "'";
}

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

// ---- file helpers ------------------------------------------------------------------------

std::string errno_text(int err) { return std::string(std::strerror(err)); }

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// ---- parsing ------------------------------------------------------------------------------

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const = 0;
  // Reads exactly n bytes at offset into dst (the caller has checked the range).
  virtual void read(std::uint64_t offset, std::uint8_t* dst, std::size_t n) const = 0;
};

class MemorySource : public ByteSource {
 public:
  explicit MemorySource(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  std::uint64_t size() const override { return bytes_.size(); }
  void read(std::uint64_t offset, std::uint8_t* dst, std::size_t n) const override {
    if (n != 0) std::memcpy(dst, bytes_.data() + offset, n);
  }

 private:
  std::span<const std::uint8_t> bytes_;
};

class FileSource : public ByteSource {
 public:
  FileSource(const std::filesystem::path& path, std::string ctx)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), ctx_(std::move(ctx)) {
    if (fd_.get() < 0) throw CheckpointError(ctx_ + ": cannot open: " + errno_text(errno));
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) {
      throw CheckpointError(ctx_ + ": cannot stat: " + errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) throw CheckpointError(ctx_ + ": not a regular file");
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  std::uint64_t size() const override { return size_; }
  void read(std::uint64_t offset, std::uint8_t* dst, std::size_t n) const override {
    while (n > 0) {
      const ssize_t r = ::pread(fd_.get(), dst, n, static_cast<off_t>(offset));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw CheckpointError(ctx_ + ": read error: " + errno_text(errno));
      if (r == 0) throw CheckpointError(ctx_ + ": unexpected end of file (file shrank while read)");
      dst += r;
      n -= static_cast<std::size_t>(r);
      offset += static_cast<std::uint64_t>(r);
    }
  }

 private:
  UniqueFd fd_;
  std::string ctx_;
  std::uint64_t size_ = 0;
};

Json parse_header_json(const std::string& text, const std::string& ctx) {
  // The callback rejects duplicate keys (nlohmann would silently keep one), deep nesting and
  // long arrays (a header of millions of shape entries would cost far more memory as a JSON
  // tree than its size on disk).
  struct Open {
    bool is_array;
    std::size_t elements = 0;
    std::set<std::string> keys;
  };
  std::vector<Open> open;
  auto count_element = [&] {
    if (!open.empty() && open.back().is_array && ++open.back().elements > kMaxJsonArray) {
      throw CheckpointError(ctx + ": header JSON array has more than " +
                            std::to_string(kMaxJsonArray) + " elements");
    }
  };
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        count_element();
        if (open.size() >= kMaxJsonNesting) {
          throw CheckpointError(ctx + ": header JSON is nested too deeply");
        }
        open.push_back(Open{event == Json::parse_event_t::array_start, 0, {}});
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        open.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open.back().keys.insert(parsed.get<std::string>()).second) {
          throw CheckpointError(ctx + ": duplicate key '" + parsed.get<std::string>() +
                                "' in header JSON");
        }
        break;
      case Json::parse_event_t::value:
        count_element();
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(ctx +
                          ": header is not valid JSON (damaged or not a checkpoint): " + e.what());
  }
}

bool get_u64(const Json& j, std::uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<std::uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(j.get<std::int64_t>());
    return true;
  }
  return false;
}

bool parse_dtype(const Json& j, DType& out) {
  if (!j.is_string()) return false;
  const auto& s = j.get_ref<const std::string&>();
  for (DType d : {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8}) {
    if (s == dtype_name(d)) {
      out = d;
      return true;
    }
  }
  return false;
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin;
  std::uint64_t end;
  std::size_t index;  // position in the header, to keep write order among equal offsets
};

Entry parse_entry(const std::string& name, const Json& j, std::size_t index,
                  std::uint64_t buffer_len, const std::string& ctx) {
  const std::string what = ctx + ": tensor '" + name + "'";
  if (name.empty()) throw CheckpointError(ctx + ": a tensor has an empty name");
  if (!j.is_object()) throw CheckpointError(what + ": header entry is not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      throw CheckpointError(what + ": unknown field '" + key + "' in header entry");
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!j.contains(key)) throw CheckpointError(what + ": header entry has no '" + key + "'");
  }
  Entry e{name, DType::f32, {}, 0, 0, index};
  if (!parse_dtype(j["dtype"], e.dtype)) {
    throw CheckpointError(what + ": unsupported dtype " + j["dtype"].dump() +
                          " (melodl reads F32, F64, I32, I64, U8)");
  }
  const Json& shape = j["shape"];
  if (!shape.is_array()) throw CheckpointError(what + ": shape is not an array");
  for (const Json& d : shape) {
    std::uint64_t v = 0;
    if (!get_u64(d, v) ||
        v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw CheckpointError(what + ": shape " + shape.dump() + " must hold non-negative integers");
    }
    e.shape.push_back(static_cast<std::int64_t>(v));
  }
  const Json& offsets = j["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !get_u64(offsets[0], e.begin) ||
      !get_u64(offsets[1], e.end) || e.begin > e.end) {
    throw CheckpointError(what + ": data_offsets " + offsets.dump() +
                          " must be [begin, end] with 0 <= begin <= end");
  }
  if (e.end > buffer_len) {
    throw CheckpointError(what + ": data_offsets " + offsets.dump() +
                          " run past the end of the data buffer (" + std::to_string(buffer_len) +
                          " bytes): file truncated or offsets wrong");
  }
  const std::size_t elem = dtype_size(e.dtype);
  const std::uint64_t n = checked_elements(e.shape, elem, what);
  if (n * elem != e.end - e.begin) {
    throw CheckpointError(what + ": shape " + shape_string(e.shape) + " of dtype " +
                          std::string(dtype_name(e.dtype)) + " needs " + std::to_string(n * elem) +
                          " bytes but data_offsets " + offsets.dump() + " span " +
                          std::to_string(e.end - e.begin));
  }
  return e;
}

const std::string& metadata_string(const std::map<std::string, std::string>& meta,
                                   std::string_view key, const std::string& ctx) {
  const auto it = meta.find(std::string(key));
  if (it == meta.end()) {
    throw CheckpointError(ctx + ": no '" + std::string(key) +
                          "' in __metadata__ (not a melodl checkpoint, or damaged)");
  }
  return it->second;
}

CheckpointFile parse_source(const ByteSource& src, const std::string& ctx) {
  const std::uint64_t file_size = src.size();
  if (file_size < 8) {
    throw CheckpointError(ctx + ": file is " + std::to_string(file_size) +
                          " bytes, too short for the 8-byte header length (truncated?)");
  }
  std::array<std::uint8_t, 8> prefix{};
  src.read(0, prefix.data(), prefix.size());
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | prefix[static_cast<std::size_t>(i)];
  if (header_len > kMaxHeaderBytes) {
    throw CheckpointError(ctx + ": header length " + std::to_string(header_len) +
                          " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                          " bytes (damaged or not a checkpoint)");
  }
  if (header_len > file_size - 8) {
    throw CheckpointError(ctx + ": header length " + std::to_string(header_len) +
                          " exceeds the file size " + std::to_string(file_size) +
                          " (truncated or not a checkpoint)");
  }
  std::string text(header_len, '\0');
  src.read(8, reinterpret_cast<std::uint8_t*>(text.data()), text.size());
  const std::uint64_t buffer_len = file_size - 8 - header_len;

  const Json header = parse_header_json(text, ctx);
  if (!header.is_object()) throw CheckpointError(ctx + ": header JSON is not an object");

  std::map<std::string, std::string> meta;
  bool has_meta = false;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) throw CheckpointError(ctx + ": __metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          throw CheckpointError(ctx + ": __metadata__ value of '" + mk + "' is not a string");
        }
        meta.emplace(mk, mv.get<std::string>());
      }
      has_meta = true;
    } else {
      entries.push_back(parse_entry(key, value, entries.size(), buffer_len, ctx));
    }
  }

  // Tensors must tile the data buffer: contiguous, in order, no overlap, no gap, no tail.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.index) < std::tie(b.begin, b.end, b.index);
  });
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < expected) {
      throw CheckpointError(ctx + ": tensor '" + e.name + "' overlaps tensor '" +
                            entries[i - 1].name + "' in the data buffer");
    }
    if (e.begin > expected) {
      throw CheckpointError(ctx + ": gap of " + std::to_string(e.begin - expected) +
                            " bytes before tensor '" + e.name + "' in the data buffer");
    }
    expected = e.end;
  }
  if (expected != buffer_len) {
    throw CheckpointError(ctx + ": tensors cover " + std::to_string(expected) +
                          " bytes but the data buffer holds " + std::to_string(buffer_len) +
                          " (trailing bytes or wrong offsets)");
  }

  // Integrity fields.
  if (!has_meta) {
    throw CheckpointError(ctx + ": no __metadata__ (not a melodl checkpoint, or damaged)");
  }
  const std::string& version = metadata_string(meta, kFormatKey, ctx);
  if (version != kFormatVersion) {
    throw CheckpointError(ctx + ": unsupported format version '" + version +
                          "' (this build reads version " + std::string(kFormatVersion) + ")");
  }
  std::set<std::string_view> names;
  for (const Entry& e : entries) names.insert(e.name);
  for (const auto& [key, value] : meta) {
    if (key.starts_with(kTensorCrcPrefix) &&
        !names.contains(std::string_view(key).substr(kTensorCrcPrefix.size()))) {
      throw CheckpointError(ctx + ": checksum '" + key + "' names no tensor in the file");
    }
  }
  const std::string& file_crc = metadata_string(meta, kFileCrcKey, ctx);
  if (!is_crc_string(file_crc)) {
    throw CheckpointError(ctx + ": malformed file checksum '" + file_crc +
                          "' (want 8 lowercase hex digits)");
  }
  const std::size_t pos = text.find(kFileCrcPattern);
  if (pos == std::string::npos || text.find(kFileCrcPattern, pos + 1) != std::string::npos ||
      text.compare(pos + kFileCrcPattern.size(), 9, file_crc + "\"") != 0) {
    throw CheckpointError(ctx + ": the header must hold " + std::string(kFileCrcPattern) +
                          "<8 hex digits>\" exactly once");
  }

  // Data: read each tensor, check its checksum, and run the whole-file checksum (prefix,
  // header with the file checksum digits read as "00000000", data buffer) alongside.
  std::string zeroed = text;
  zeroed.replace(pos + kFileCrcPattern.size(), kCrcPlaceholder.size(), kCrcPlaceholder);
  std::uint32_t running = crc32c(prefix);
  running = crc32c({reinterpret_cast<const std::uint8_t*>(zeroed.data()), zeroed.size()}, running);

  CheckpointFile out;
  out.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    const std::string& stored = metadata_string(meta, std::string(kTensorCrcPrefix) + e.name, ctx);
    if (!is_crc_string(stored)) {
      throw CheckpointError(ctx + ": tensor '" + e.name + "': malformed checksum '" + stored +
                            "' (want 8 lowercase hex digits)");
    }
    NamedTensor t{std::move(e.name), e.dtype, std::move(e.shape), {}};
    t.bytes.resize(e.end - e.begin);
    src.read(8 + header_len + e.begin, t.bytes.data(), t.bytes.size());
    const std::uint32_t crc = crc32c(t.bytes);
    if (hex8(crc) != stored) {
      throw CheckpointError(ctx + ": tensor '" + t.name + "': checksum mismatch (stored " + stored +
                            ", computed " + hex8(crc) + "): data corrupted");
    }
    running = crc32c(t.bytes, running);
    out.tensors.push_back(std::move(t));
  }
  if (hex8(running) != file_crc) {
    throw CheckpointError(ctx + ": file checksum mismatch (stored " + file_crc + ", computed " +
                          hex8(running) + "): header or data corrupted");
  }
  for (auto& [key, value] : meta) {
    if (!is_reserved_key(key)) out.metadata.emplace(key, std::move(value));
  }
  return out;
}

}  // namespace

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

std::vector<float> as_floats(const NamedTensor& t) { return as_values<float>(t, DType::f32); }
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

CheckpointFile parse_checkpoint(std::span<const std::uint8_t> bytes, std::string_view source_name) {
  return parse_source(MemorySource(bytes), context_for(source_name));
}

CheckpointFile read_checkpoint_file(const std::filesystem::path& path) {
  const std::string ctx = context_for(path.string());
  return parse_source(FileSource(path, ctx), ctx);
}

void write_checkpoint_file(const std::filesystem::path& path, const CheckpointFile& file) {
  const std::string ctx = context_for(path.string());
  const Encoded enc = encode_header(file, ctx);  // validates before touching the disk

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
    out.emplace(path, 0666);
  } catch (const IoError& e) {
    throw CheckpointError(ctx + ": cannot create temporary file: " + e.what());
  }
  try {
    out->write({reinterpret_cast<const char*>(enc.prefix.data()), enc.prefix.size()});
    out->write(enc.header);
    for (const NamedTensor& t : file.tensors) {
      out->write({reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size()});
    }
  } catch (const IoError& e) {
    throw CheckpointError(ctx + ": cannot write temporary file: " + e.what());
  }
  try {
    out->commit();
  } catch (const IoError& e) {
    throw CheckpointError(ctx + ": " + e.what());
  }
}

}  // namespace melodl::lstm
