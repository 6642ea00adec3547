// lstm/checkpoint_read.cpp: the verifying reader of checkpoint files (read_checkpoint_file,
// parse_checkpoint; API: lstm/checkpoint_file.h; layout: docs/checkpoints.md and
// lstm/checkpoint_format.h). One parser over a byte source (a file read with pread, or
// memory) checks the header bounds, the JSON structure (duplicate keys, nesting and array
// limits), every entry's dtype, shape and offsets, that the tensors tile the data buffer, and
// the per-tensor and whole-file CRC-32C, and throws CheckpointError naming the file and the
// problem. It never allocates more than the file's size.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lstm/checkpoint_file.h"
#include "lstm/checkpoint_format.h"

namespace melodl::lstm {

using namespace checkpoint_format;  // layout constants and shared helpers

namespace {

// Whether s is a checksum as the file spells it (8 lowercase hex digits).
bool is_crc_string(const std::string& s) {
  return s.size() == 8 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
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
  for (DType d :
       {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8, DType::f16, DType::bf16}) {
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
                          " (melodl reads F32, F64, I32, I64, U8, F16, BF16)");
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

CheckpointFile parse_checkpoint(std::span<const std::uint8_t> bytes, std::string_view source_name) {
  return parse_source(MemorySource(bytes), context_for(source_name));
}

CheckpointFile read_checkpoint_file(const std::filesystem::path& path) {
  const std::string ctx = context_for(path.string());
  return parse_source(FileSource(path, ctx), ctx);
}

}  // namespace melodl::lstm
