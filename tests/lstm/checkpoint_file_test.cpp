// tests/lstm/checkpoint_file_test.cpp: tests of the checkpoint file layer (lstm/checkpoint_file.h).
// Covers: CRC-32C known answers; round trips (every dtype, scalars, zero-size tensors, many
// tensors, metadata); the on-disk layout as docs/checkpoints.md defines it (recomputed here
// independently); truncation at every length of a small file and a spread of a larger one;
// every single-bit flip of a small file (all must be detected); hand-crafted malformed
// headers, each with the message naming the file and the problem; atomic replacement (old file
// intact after a failed write, no temporary file left behind); and a seeded random-mutation
// loop that must never crash and must reject every changed file.
#include "lstm/checkpoint_file.h"
#include "lstm/half.h"

#include <gtest/gtest.h>

#include <span>

#include <cmath>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace melodl::lstm {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// ---- helpers ------------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("melodl-ckpt-test-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter.fetch_add(1)));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  fs::path path_;
};

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  ASSERT_TRUE(out.good()) << p;
}

// 8-byte little-endian `n`, then `text`, then `data` (sized once and memcpy'd: vector::insert
// here trips GCC 12 -Warray-bounds false positives).
Bytes assemble(std::uint64_t n, const std::string& text, const Bytes& data) {
  Bytes out(8 + text.size() + data.size());
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(n >> (8 * i));
  if (!text.empty()) std::memcpy(out.data() + 8, text.data(), text.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + text.size(), data.data(), data.size());
  return out;
}

// "prefix" + number, built without operator+ (GCC 12 -Wrestrict false positive).
std::string numbered(const char* prefix, int i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

// Runs fn, expects a CheckpointError whose message contains every one of `parts`.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no CheckpointError thrown";
  } catch (const CheckpointError& e) {
    const std::string msg = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(msg.find(part), std::string::npos)
          << "message '" << msg << "' lacks '" << part << "'";
    }
  }
}

std::string hex8(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::uint32_t crc_of(const std::string& s, std::uint32_t crc = 0) {
  return crc32c({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}, crc);
}

// Bit-at-a-time CRC-32C, the definition the table-driven version must match.
std::uint32_t crc32c_bitwise(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1u) != 0 ? 0x82F63B78u : 0u);
  }
  return ~c;
}

// A small checkpoint with every dtype, a scalar, a zero-size tensor and some metadata.
CheckpointFile sample_file() {
  CheckpointFile f;
  const std::vector<float> f32{1.5f, -2.25f, 3.0e-8f, 0.0f, -0.0f, 1e30f};
  const std::vector<double> f64{3.141592653589793, -1e-300};
  const std::vector<std::int32_t> i32{-7, 0, 2147483647};
  const std::vector<std::int64_t> i64{-(std::int64_t{1} << 62), 42};
  const std::vector<std::uint8_t> u8{0, 1, 254, 255, 32};
  const std::vector<float> scalar{0.5f};
  f.tensors.push_back(make_tensor("layer0.W", std::span<const float>(f32), {2, 3}));
  f.tensors.push_back(make_tensor("f64", std::span<const double>(f64), {2}));
  f.tensors.push_back(make_tensor("empty", std::span<const float>(), {0, 4}));
  f.tensors.push_back(make_tensor("i32", std::span<const std::int32_t>(i32), {3, 1}));
  f.tensors.push_back(make_tensor("rng.state", std::span<const std::int64_t>(i64), {2}));
  f.tensors.push_back(make_tensor("bytes", std::span<const std::uint8_t>(u8), {5}));
  f.tensors.push_back(make_tensor("lr", std::span<const float>(scalar), {}));
  f.metadata["model.layers"] = "2";
  f.metadata["note"] = "Bach, BWV 772 \"Invention\" \xc3\xa9";
  return f;
}

// A larger checkpoint (about 200 KB) with a few dozen tensors.
CheckpointFile large_file() {
  CheckpointFile f;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < 40; ++i) {
    const std::int64_t rows = 1 + (i * 7) % 23;
    const std::int64_t cols = 1 + (i * 13) % 61;
    std::vector<float> v(static_cast<std::size_t>(rows * cols));
    for (float& x : v) x = u(rng);
    f.tensors.push_back(make_tensor(numbered("t", i), std::span<const float>(v), {rows, cols}));
  }
  std::vector<std::uint8_t> blob(120000);
  for (auto& b : blob) b = static_cast<std::uint8_t>(rng());
  f.tensors.push_back(make_tensor("blob", std::span<const std::uint8_t>(blob), {120000}));
  f.metadata["epoch"] = "12";
  return f;
}

void expect_same(const CheckpointFile& a, const CheckpointFile& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name) << i;
    EXPECT_EQ(a.tensors[i].dtype, b.tensors[i].dtype) << a.tensors[i].name;
    EXPECT_EQ(a.tensors[i].shape, b.tensors[i].shape) << a.tensors[i].name;
    EXPECT_EQ(a.tensors[i].bytes, b.tensors[i].bytes) << a.tensors[i].name;
  }
  EXPECT_EQ(a.metadata, b.metadata);
}

// Builds a file from a hand-written header and data buffer. With `integrity`, the header's
// "__metadata__" gets melodl.format, a checksum per well-formed tensor entry and the file
// checksum, computed as docs/checkpoints.md defines them, so the file's only defect is the
// one the test put there.
Bytes craft(nlohmann::ordered_json header, const Bytes& data, bool integrity = true,
            int indent = -1) {
  if (integrity) {
    auto& meta = header["__metadata__"];
    if (!meta.contains("melodl.format")) meta["melodl.format"] = "1";
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__" || !entry.is_object() || !entry.contains("data_offsets")) continue;
      const auto& off = entry["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_integer() ||
          !off[1].is_number_integer() || off[0].get<std::int64_t>() < 0) {
        continue;
      }
      const auto b = off[0].get<std::size_t>();
      const auto e = off[1].get<std::size_t>();
      if (b > e || e > data.size()) continue;
      const std::string key = "melodl.crc32c." + name;
      if (!meta.contains(key)) meta[key] = hex8(crc32c({data.data() + b, e - b}));
    }
    if (!meta.contains("melodl.file_crc32c")) meta["melodl.file_crc32c"] = "00000000";
  }
  std::string text = header.dump(indent);
  Bytes out = assemble(text.size(), text, data);
  if (integrity) {
    const std::string pattern = "\"melodl.file_crc32c\":\"00000000\"";
    const std::size_t pos = text.find(pattern);
    if (pos != std::string::npos) {
      const std::string crc = hex8(crc32c(out));
      std::copy(crc.begin(), crc.end(), out.begin() + 8 + static_cast<std::ptrdiff_t>(pos) + 22);
    }
  }
  return out;
}

// One tensor entry {"dtype", "shape", "data_offsets"}; shape and offsets become JSON arrays.
nlohmann::ordered_json entry(const char* dtype, std::initializer_list<nlohmann::ordered_json> shape,
                             std::initializer_list<nlohmann::ordered_json> offsets) {
  nlohmann::ordered_json e = nlohmann::ordered_json::object();
  e["dtype"] = dtype;
  e["shape"] = nlohmann::ordered_json::array();
  for (const auto& d : shape) e["shape"].push_back(d);
  e["data_offsets"] = nlohmann::ordered_json::array();
  for (const auto& o : offsets) e["data_offsets"].push_back(o);
  return e;
}

// ---- CRC-32C -------------------------------------------------------------------------------

TEST(Crc32c, KnownAnswers) {
  EXPECT_EQ(crc_of("123456789"), 0xE3069283u);
  EXPECT_EQ(crc_of(""), 0u);
  // RFC 3720 (iSCSI) B.4 test vectors.
  EXPECT_EQ(crc_of(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc_of(std::string(32, '\xff')), 0x62A8AB43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[static_cast<std::size_t>(i)] = static_cast<char>(i);
  EXPECT_EQ(crc_of(inc), 0x46DD794Eu);
}

TEST(Crc32c, MatchesBitwiseDefinitionAndContinues) {
  std::mt19937 rng(1);
  Bytes buf(300);
  for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
  for (std::size_t off = 0; off < 9; ++off) {
    for (std::size_t len = 0; off + len <= buf.size(); len += 1 + len / 4) {
      const std::uint8_t* p = buf.data() + off;
      ASSERT_EQ(crc32c({p, len}), crc32c_bitwise(p, len)) << off << " " << len;
      const std::size_t cut = len / 3;
      ASSERT_EQ(crc32c({p + cut, len - cut}, crc32c({p, cut})), crc32c_bitwise(p, len));
    }
  }
}

// ---- tensors -------------------------------------------------------------------------------

TEST(CheckpointTensor, MakeAndReadBackValues) {
  const std::vector<float> f{1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  const NamedTensor t = make_tensor("w", std::span<const float>(f), {2, 3});
  EXPECT_EQ(t.dtype, DType::f32);
  EXPECT_EQ(t.bytes.size(), 24u);
  EXPECT_EQ(as_floats(t), f);
  // Little-endian element bytes: 1.0f is 0x3F800000.
  EXPECT_EQ(t.bytes[0], 0x00);
  EXPECT_EQ(t.bytes[3], 0x3F);
  const std::vector<double> d{-1.0, 2.5};
  EXPECT_EQ(as_doubles(make_tensor("d", std::span<const double>(d), {2})), d);
  const std::vector<std::int32_t> i{-1, 7};
  EXPECT_EQ(as_int32s(make_tensor("i", std::span<const std::int32_t>(i), {1, 2})), i);
  const std::vector<std::int64_t> l{-5, std::numeric_limits<std::int64_t>::max()};
  EXPECT_EQ(as_int64s(make_tensor("l", std::span<const std::int64_t>(l), {2})), l);
  const std::vector<std::uint8_t> u{9, 8, 7};
  EXPECT_EQ(as_uint8s(make_tensor("u", std::span<const std::uint8_t>(u), {3})), u);
  EXPECT_EQ(dtype_size(DType::f64), 8u);
  EXPECT_EQ(dtype_name(DType::u8), "U8");
}

TEST(CheckpointTensor, RejectsMismatchesAndMissingNames) {
  const std::vector<float> f{1.0f, 2.0f, 3.0f};
  expect_error(
      [&] {
        make_tensor("w", std::span<const float>(f), {2, 2});
      },
      {"'w'", "[2,2]", "4 elements", "3 values"});
  expect_error([&] { make_tensor("w", std::span<const float>(f), {-3}); }, {"negative"});
  const NamedTensor t = make_tensor("w", std::span<const float>(f), {3});
  expect_error([&] { as_int64s(t); }, {"'w'", "F32", "I64"});
  expect_error([&] { as_doubles(t); }, {"'w'", "F64"});
  NamedTensor broken = t;
  broken.bytes.pop_back();
  expect_error([&] { as_floats(broken); }, {"'w'", "12 bytes", "holds 11"});
  CheckpointFile file;
  file.tensors.push_back(t);
  EXPECT_EQ(&find_tensor(file, "w"), &file.tensors[0]);
  expect_error([&] { find_tensor(file, "nope"); }, {"'nope'"});
}

// ---- round trips ---------------------------------------------------------------------------

TEST(CheckpointFileRoundTrip, AllDtypesScalarZeroSizeAndMetadata) {
  TempDir dir;
  const fs::path p = dir.path() / "model.safetensors";
  const CheckpointFile f = sample_file();
  write_checkpoint_file(p, f);
  const CheckpointFile g = read_checkpoint_file(p);
  expect_same(f, g);
  EXPECT_EQ(as_floats(find_tensor(g, "lr")), std::vector<float>{0.5f});
  EXPECT_TRUE(find_tensor(g, "empty").bytes.empty());
  EXPECT_EQ(read_bytes(p), serialize_checkpoint(f));
  expect_same(f, parse_checkpoint(serialize_checkpoint(f)));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST(CheckpointFileRoundTrip, EmptyFileAndEmptyMetadata) {
  TempDir dir;
  const fs::path p = dir.path() / "empty.safetensors";
  write_checkpoint_file(p, CheckpointFile{});
  const CheckpointFile g = read_checkpoint_file(p);
  EXPECT_TRUE(g.tensors.empty());
  EXPECT_TRUE(g.metadata.empty());

  CheckpointFile f;
  const std::vector<float> v{1, 2};
  f.tensors.push_back(make_tensor("a", std::span<const float>(v), {2}));
  write_checkpoint_file(p, f);
  expect_same(f, read_checkpoint_file(p));
}

TEST(CheckpointFileRoundTrip, ManyTensorsKeepWriteOrder) {
  TempDir dir;
  CheckpointFile f;
  std::mt19937 rng(3);
  for (int i = 0; i < 500; ++i) {
    // Names deliberately not in sorted order; some zero-size tensors interleaved.
    const std::int64_t n = (i % 7 == 0) ? 0 : static_cast<std::int64_t>(rng() % 50);
    std::vector<double> v(static_cast<std::size_t>(n));
    for (double& x : v) x = static_cast<double>(rng()) / 7.0;
    f.tensors.push_back(
        make_tensor(numbered("z", (i * 7919) % 1000) + "/p", std::span<const double>(v), {n}));
  }
  for (int i = 0; i < 50; ++i) f.metadata[numbered("k", i)] = std::string(i, 'x');
  const fs::path p = dir.path() / "many.safetensors";
  write_checkpoint_file(p, f);
  expect_same(f, read_checkpoint_file(p));
}

// The layout docs/checkpoints.md promises, checked from the raw bytes.
TEST(CheckpointFileLayout, IsSafetensorsWithDocumentedChecksums) {
  const CheckpointFile f = sample_file();
  const Bytes b = serialize_checkpoint(f);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | b[static_cast<std::size_t>(i)];
  ASSERT_LE(8 + n, b.size());
  EXPECT_EQ((8 + n) % 8, 0u) << "data buffer starts 8-byte aligned";
  const std::string text(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  const auto header = nlohmann::json::parse(text);
  ASSERT_TRUE(header.is_object());
  const auto& meta = header.at("__metadata__");
  EXPECT_EQ(meta.at("melodl.format"), "1");
  EXPECT_EQ(meta.at("model.layers"), "2");
  const std::size_t data_start = 8 + n;
  std::uint64_t expected_begin = 0;
  for (const NamedTensor& t : f.tensors) {
    const auto& e = header.at(t.name);
    EXPECT_EQ(e.at("dtype"), std::string(dtype_name(t.dtype)));
    EXPECT_EQ(e.at("shape").get<std::vector<std::int64_t>>(), t.shape);
    const auto off = e.at("data_offsets").get<std::vector<std::uint64_t>>();
    ASSERT_EQ(off.size(), 2u);
    EXPECT_EQ(off[0], expected_begin) << t.name << ": contiguous, in write order";
    EXPECT_EQ(off[1] - off[0], t.bytes.size());
    expected_begin = off[1];
    const Bytes stored(b.begin() + static_cast<std::ptrdiff_t>(data_start + off[0]),
                       b.begin() + static_cast<std::ptrdiff_t>(data_start + off[1]));
    EXPECT_EQ(stored, t.bytes);
    EXPECT_EQ(meta.at("melodl.crc32c." + t.name), hex8(crc32c(t.bytes)));
  }
  EXPECT_EQ(data_start + expected_begin, b.size()) << "no trailing bytes";
  // File checksum: CRC-32C of the whole file with its own 8 digits read as "00000000".
  const std::string file_crc = meta.at("melodl.file_crc32c");
  const std::string pattern = "\"melodl.file_crc32c\":\"" + file_crc + "\"";
  const std::size_t pos = text.find(pattern);
  ASSERT_NE(pos, std::string::npos);
  Bytes zeroed = b;
  std::fill_n(zeroed.begin() + static_cast<std::ptrdiff_t>(8 + pos + 22), 8, '0');
  EXPECT_EQ(hex8(crc32c(zeroed)), file_crc);
}

TEST(CheckpointFileLayout, CraftedValidFileReads) {
  // A file built by hand from the documented rules (not by the writer) is accepted.
  nlohmann::ordered_json h;
  h["b"] = entry("U8", {3}, {4, 7});
  h["a"] = entry("I32", {}, {0, 4});
  h["__metadata__"] = {{"user", "x"}};
  const Bytes data{1, 0, 0, 0, 9, 8, 7};
  TempDir dir;
  write_bytes(dir.path() / "c", craft(h, data));
  const CheckpointFile g = read_checkpoint_file(dir.path() / "c");
  ASSERT_EQ(g.tensors.size(), 2u);
  EXPECT_EQ(g.tensors[0].name, "a") << "tensors come back in data order";
  EXPECT_EQ(as_int32s(g.tensors[0]), std::vector<std::int32_t>{1});
  EXPECT_EQ(as_uint8s(g.tensors[1]), (std::vector<std::uint8_t>{9, 8, 7}));
  EXPECT_EQ(g.metadata, (std::map<std::string, std::string>{{"user", "x"}}));
}

// ---- write validation ----------------------------------------------------------------------

TEST(CheckpointFileWrite, RejectsInvalidInputWithoutTouchingDisk) {
  TempDir dir;
  const fs::path p = dir.path() / "bad.safetensors";
  const std::vector<float> v{1, 2};
  const NamedTensor t = make_tensor("a", std::span<const float>(v), {2});
  CheckpointFile dup;
  dup.tensors = {t, t};
  expect_error([&] { write_checkpoint_file(p, dup); }, {p.string(), "duplicate", "'a'"});
  CheckpointFile empty_name;
  empty_name.tensors = {t};
  empty_name.tensors[0].name.clear();
  expect_error([&] { write_checkpoint_file(p, empty_name); }, {"empty name"});
  CheckpointFile meta_name;
  meta_name.tensors = {t};
  meta_name.tensors[0].name = "__metadata__";
  expect_error([&] { write_checkpoint_file(p, meta_name); }, {"__metadata__"});
  CheckpointFile size;
  size.tensors = {t};
  size.tensors[0].shape = {3};
  expect_error([&] { write_checkpoint_file(p, size); }, {"'a'", "needs 12 bytes", "holds 8"});
  for (const char* key : {"melodl.format", "melodl.file_crc32c", "melodl.crc32c.a"}) {
    CheckpointFile reserved;
    reserved.metadata[key] = "1";
    expect_error([&] { write_checkpoint_file(p, reserved); }, {"reserved", key});
  }
  CheckpointFile sneaky;
  sneaky.metadata["x\"melodl.file_crc32c"] = "y";
  expect_error([&] { write_checkpoint_file(p, sneaky); }, {"reserved text"});
  CheckpointFile sneaky_tensor;
  sneaky_tensor.tensors = {t};
  sneaky_tensor.tensors[0].name = "x\"melodl.file_crc32c";  // its checksum key would match
  expect_error([&] { write_checkpoint_file(p, sneaky_tensor); }, {"reserved text"});
  CheckpointFile utf8;
  utf8.tensors = {t};
  utf8.tensors[0].name = "bad\xff";
  expect_error([&] { write_checkpoint_file(p, utf8); }, {"UTF-8"});
  EXPECT_TRUE(dir.entries().empty());
}

// ---- truncation and bit flips --------------------------------------------------------------

// The exhaustive loops parse from memory (parse_checkpoint: the same parser as
// read_checkpoint_file, fed from a buffer); every 31st case also goes through a real file.
TEST(CheckpointFileIntegrity, TruncationAtEveryLengthOfSmallFile) {
  TempDir dir;
  const Bytes full = serialize_checkpoint(sample_file());
  const fs::path p = dir.path() / "t.safetensors";
  for (std::size_t len = 0; len < full.size(); ++len) {
    const Bytes b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_THROW(parse_checkpoint(b, "small"), CheckpointError) << "length " << len;
    if (len % 31 == 0) {
      write_bytes(p, b);
      EXPECT_THROW(read_checkpoint_file(p), CheckpointError) << "length " << len;
    }
  }
  write_bytes(p, full);
  EXPECT_NO_THROW(read_checkpoint_file(p));
}

TEST(CheckpointFileIntegrity, TruncationSpreadOverLargeFile) {
  TempDir dir;
  const Bytes full = serialize_checkpoint(large_file());
  ASSERT_GT(full.size(), 150000u);
  const fs::path p = dir.path() / "t.safetensors";
  std::vector<std::size_t> lengths;
  for (std::size_t i = 0; i < 300; ++i) lengths.push_back(i * full.size() / 300);
  for (std::size_t k = 1; k <= 16; ++k) lengths.push_back(full.size() - k);
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    const Bytes b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(lengths[i]));
    expect_error([&] { parse_checkpoint(b, "large"); }, {"'large'"});
    if (i % 7 == 0) {
      write_bytes(p, b);
      expect_error([&] { read_checkpoint_file(p); }, {p.string()});
    }
  }
  // One byte too many is also rejected.
  Bytes longer = full;
  longer.push_back(0);
  write_bytes(p, longer);
  expect_error([&] { read_checkpoint_file(p); }, {p.string(), "trailing bytes"});
}

TEST(CheckpointFileIntegrity, EverySingleBitFlipOfSmallFileIsDetected) {
  TempDir dir;
  const Bytes full = serialize_checkpoint(sample_file());
  const fs::path p = dir.path() / "f.safetensors";
  std::size_t undetected = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes b = full;
      b[i] = static_cast<std::uint8_t>(b[i] ^ (1u << bit));
      const bool via_file = (i * 8 + static_cast<std::size_t>(bit)) % 31 == 0;
      if (via_file) write_bytes(p, b);
      try {
        if (via_file) {
          read_checkpoint_file(p);
        } else {
          parse_checkpoint(b, "small");
        }
        ++undetected;
        ADD_FAILURE() << "flip of bit " << bit << " at byte " << i << " not detected";
      } catch (const CheckpointError& e) {
        const std::string name = via_file ? p.string() : "'small'";
        if (std::string(e.what()).find(name) == std::string::npos) {
          ADD_FAILURE() << "message does not name the file: " << e.what();
        }
      }
    }
  }
  EXPECT_EQ(undetected, 0u);
}

TEST(CheckpointFileIntegrity, BitFlipsInLargeFileAreDetectedAndNameTheTensor) {
  const Bytes full = serialize_checkpoint(large_file());
  std::mt19937 rng(11);
  for (int k = 0; k < 400; ++k) {
    Bytes b = full;
    const std::size_t i = rng() % b.size();
    b[i] = static_cast<std::uint8_t>(b[i] ^ (1u << (rng() % 8)));
    EXPECT_THROW(parse_checkpoint(b, "large"), CheckpointError) << "byte " << i;
  }
  // A flip in the last byte (inside tensor "blob") names that tensor.
  Bytes b = full;
  b.back() ^= 0x10;
  expect_error([&] { parse_checkpoint(b, "large"); }, {"'large'", "'blob'", "checksum mismatch"});
}

// ---- malformed headers ----------------------------------------------------------------------

class MalformedHeader : public ::testing::Test {
 protected:
  void expect_rejected(const Bytes& bytes, std::initializer_list<std::string> parts) {
    const fs::path p = dir_.path() / "m.safetensors";
    write_bytes(p, bytes);
    std::vector<std::string> all(parts);
    all.push_back(p.string());
    try {
      read_checkpoint_file(p);
      ADD_FAILURE() << "accepted";
    } catch (const CheckpointError& e) {
      for (const std::string& part : all) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
            << "message '" << e.what() << "' lacks '" << part << "'";
      }
    }
  }
  static Bytes raw(const std::string& header, const Bytes& data = {}, std::uint64_t n = ~0ull) {
    if (n == ~0ull) n = header.size();
    return assemble(n, header, data);
  }
  TempDir dir_;
};

TEST_F(MalformedHeader, LengthPrefix) {
  expect_rejected({}, {"too short"});
  expect_rejected({1, 2, 3}, {"too short"});
  expect_rejected(raw("{}", {}, 100'000'001), {"exceeds the limit"});
  expect_rejected(raw("{}", {}, ~0ull - 1), {"exceeds the limit"});
  expect_rejected(raw("{}", {}, 3), {"exceeds the file size"});
  expect_rejected(raw("", {}, 0), {"not valid JSON"});
}

TEST_F(MalformedHeader, BadJson) {
  expect_rejected(raw("{not json"), {"not valid JSON"});
  expect_rejected(raw("{\"a\":1} x"), {"not valid JSON"});
  expect_rejected(raw("{\"a\":\"\xff\"}"), {"not valid JSON"});
  expect_rejected(raw("[1,2]"), {"not an object"});
  expect_rejected(raw("\"text\""), {"not an object"});
  expect_rejected(raw("17"), {"not an object"});
  expect_rejected(raw("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}"), {"nested too deeply"});
  expect_rejected(raw(std::string(50000, '[') + std::string(50000, ']')), {"nested too deeply"});
  std::string long_shape = "[1";
  for (int i = 0; i < 64; ++i) long_shape += ",1";
  expect_rejected(
      raw("{\"a\":{\"dtype\":\"U8\",\"shape\":" + long_shape + "],\"data_offsets\":[0,1]}}", {1}),
      {"more than 64 elements"});
}

TEST_F(MalformedHeader, DuplicateNames) {
  const std::string e = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  expect_rejected(raw("{\"a\":" + e + ",\"a\":" + e + "}", {1}), {"duplicate key 'a'"});
  expect_rejected(raw(R"({"__metadata__":{"k":"1","k":"2"}})"), {"duplicate key 'k'"});
  expect_rejected(raw(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", {1}),
                  {"duplicate key 'dtype'"});
}

TEST_F(MalformedHeader, TensorEntries) {
  using J = nlohmann::ordered_json;
  const Bytes d8(8, 0);
  J h;
  h["a"] = 5;
  expect_rejected(craft(h, {}), {"'a'", "not a JSON object"});
  h = J();
  h["a"] = entry("I16", {4}, {0, 8});
  expect_rejected(craft(h, d8), {"'a'", "unsupported dtype \"I16\""});
  h["a"] = entry("F32", {2}, {0, 8});
  h["a"]["dtype"] = 4;
  expect_rejected(craft(h, d8), {"unsupported dtype 4"});
  h["a"] = entry("F32", {-2}, {0, 8});
  expect_rejected(craft(h, d8), {"non-negative"});
  h["a"] = entry("F32", {2.0}, {0, 8});
  expect_rejected(craft(h, d8), {"non-negative"});
  h["a"] = entry("F32", {}, {0, 8});
  h["a"]["shape"] = 2;
  expect_rejected(craft(h, d8), {"shape is not an array"});
  h["a"] = entry("F32", {3}, {0, 8});
  expect_rejected(craft(h, d8), {"'a'", "needs 12 bytes", "span 8"});
  h["a"] = entry("F32", {2}, {0, 1000});
  expect_rejected(craft(h, d8), {"run past the end", "8 bytes"});
  h["a"] = entry("F32", {0}, {8, 4});
  expect_rejected(craft(h, d8), {"begin <= end"});
  h["a"] = entry("F32", {2}, {0});
  expect_rejected(craft(h, d8), {"data_offsets [0]"});
  h["a"] = entry("F32", {2}, {0, -8});
  expect_rejected(craft(h, d8), {"data_offsets"});
  h["a"] = entry("F32", {1u << 31, 1u << 31, 1u << 31}, {0, 8});
  expect_rejected(craft(h, d8), {"too large"});
  h["a"] = entry("F32", {2}, {0, 8});
  h["a"]["extra"] = 1;
  expect_rejected(craft(h, d8), {"unknown field 'extra'"});
  h["a"] = entry("F32", {2}, {0, 8});
  h["a"].erase("data_offsets");
  expect_rejected(craft(h, d8), {"no 'data_offsets'"});
  h = J();
  h[""] = entry("U8", {8}, {0, 8});
  expect_rejected(craft(h, d8), {"empty name"});
}

TEST_F(MalformedHeader, OffsetsMustTileTheBuffer) {
  using J = nlohmann::ordered_json;
  J h;
  h["a"] = entry("U8", {8}, {0, 8});
  h["b"] = entry("U8", {8}, {4, 12});
  expect_rejected(craft(h, Bytes(12, 1)), {"overlaps"});
  h["b"] = entry("U8", {8}, {0, 8});
  expect_rejected(craft(h, Bytes(16, 1)), {"overlaps"});
  h["a"] = entry("U8", {4}, {0, 4});
  h["b"] = entry("U8", {4}, {8, 12});
  expect_rejected(craft(h, Bytes(12, 1)), {"gap of 4 bytes", "'b'"});
  h = J();
  h["a"] = entry("U8", {4}, {0, 4});
  expect_rejected(craft(h, Bytes(8, 1)), {"cover 4 bytes", "holds 8"});
  h = J();
  h["__metadata__"] = J::object();
  expect_rejected(craft(h, Bytes(3, 1)), {"cover 0 bytes"});
}

TEST_F(MalformedHeader, IntegrityFields) {
  using J = nlohmann::ordered_json;
  const Bytes d4{1, 2, 3, 4};
  J base;
  base["a"] = entry("U8", {4}, {0, 4});
  expect_rejected(craft(base, d4, false), {"no __metadata__"});
  J h = base;
  h["__metadata__"] = "x";
  expect_rejected(craft(h, d4, false), {"__metadata__ is not a JSON object"});
  h["__metadata__"] = {{"k", 1}};
  expect_rejected(craft(h, d4), {"'k' is not a string"});
  h["__metadata__"] = J::object();
  h["__metadata__"]["user"] = "u";
  expect_rejected(craft(h, d4, false), {"no 'melodl.format'"});
  h["__metadata__"]["melodl.format"] = "2";
  expect_rejected(craft(h, d4), {"unsupported format version '2'"});
  h["__metadata__"]["melodl.format"] = "1";
  h["__metadata__"]["melodl.crc32c.zz"] = "00000000";
  expect_rejected(craft(h, d4), {"'melodl.crc32c.zz' names no tensor"});
  h["__metadata__"].erase("melodl.crc32c.zz");
  h["__metadata__"]["melodl.crc32c.a"] = hex8(crc32c(d4) ^ 1);
  expect_rejected(craft(h, d4), {"'a'", "checksum mismatch"});
  h["__metadata__"]["melodl.crc32c.a"] = "ABCDEF01";
  expect_rejected(craft(h, d4), {"'a'", "malformed checksum"});
  h["__metadata__"].erase("melodl.crc32c.a");
  h["__metadata__"]["melodl.file_crc32c"] = "123";
  expect_rejected(craft(h, d4), {"malformed file checksum"});
  h["__metadata__"]["melodl.file_crc32c"] = "0123abcd";
  expect_rejected(craft(h, d4), {"file checksum mismatch"});
  // The file checksum key missing.
  J m;
  m["__metadata__"] = {{"melodl.format", "1"}, {"melodl.crc32c.a", hex8(crc32c(d4))}};
  m["a"] = entry("U8", {4}, {0, 4});
  expect_rejected(craft(m, d4, false), {"no 'melodl.file_crc32c'"});
  // Present, but not in the compact form (e.g. re-indented by a JSON tool): cannot be located.
  expect_rejected(craft(base, d4, true, 1), {"exactly once"});
  // Tensor checksum missing (craft adds one only for tensors it can compute).
  J g;
  g["__metadata__"] = {{"melodl.format", "1"}, {"melodl.file_crc32c", "00000000"}};
  g["a"] = entry("U8", {4}, {0, 4});
  expect_rejected(craft(g, d4, false), {"no 'melodl.crc32c.a'"});
  // Everything well formed: accepted (the cases above each differ in one point).
  EXPECT_NO_THROW(parse_checkpoint(craft(base, d4)));
}

// ---- atomic write --------------------------------------------------------------------------

TEST(CheckpointFileAtomicWrite, ReplacesExistingFileAndLeavesNoTemporary) {
  TempDir dir;
  const fs::path p = dir.path() / "ckpt.safetensors";
  write_checkpoint_file(p, large_file());
  const CheckpointFile small = sample_file();
  write_checkpoint_file(p, small);
  expect_same(small, read_checkpoint_file(p));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(CheckpointFileAtomicWrite, FailedWriteKeepsOldFileIntact) {
  // A file-size limit makes write() fail part-way (EFBIG), even for root.
  TempDir dir;
  const fs::path p = dir.path() / "ckpt.safetensors";
  write_checkpoint_file(p, sample_file());
  const Bytes before = read_bytes(p);
  const CheckpointFile big = large_file();

  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small_limit = old_limit;
  small_limit.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small_limit), 0);
  std::string message;
  try {
    write_checkpoint_file(p, big);
  } catch (const CheckpointError& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_NE(message.find("cannot write temporary file"), std::string::npos) << message;
  EXPECT_NE(message.find(p.string()), std::string::npos) << message;
  EXPECT_EQ(read_bytes(p), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
  expect_same(sample_file(), read_checkpoint_file(p));
}

TEST(CheckpointFileAtomicWrite, UnwritableDirectoryKeepsOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  const fs::path p = dir.path() / "ckpt.safetensors";
  write_checkpoint_file(p, sample_file());
  const Bytes before = read_bytes(p);
  fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
  expect_error([&] { write_checkpoint_file(p, large_file()); }, {"cannot create temporary file"});
  fs::permissions(dir.path(), fs::perms::owner_all);
  EXPECT_EQ(read_bytes(p), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(CheckpointFileAtomicWrite, FailedRenameAndMissingDirectoryLeaveNothing) {
  TempDir dir;
  const fs::path target = dir.path() / "is_a_dir";
  fs::create_directory(target);
  fs::path inside = target / "keep";
  write_bytes(inside, {1, 2, 3});
  // (AtomicFile refuses a folder as target before it creates a temporary file.)
  expect_error([&] { write_checkpoint_file(target, sample_file()); }, {"is a directory"});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"is_a_dir"});
  EXPECT_EQ(read_bytes(inside), (Bytes{1, 2, 3}));
  expect_error([&] { write_checkpoint_file(dir.path() / "no" / "such" / "x", sample_file()); },
               {"cannot create temporary file"});
  expect_error([&] { read_checkpoint_file(dir.path() / "missing"); }, {"cannot open"});
  expect_error([&] { read_checkpoint_file(target); }, {"not a regular file"});
}

// ---- robustness ----------------------------------------------------------------------------

TEST(CheckpointFileRobustness, RandomMutationsNeverCrashAndAreAllRejected) {
  const Bytes original = serialize_checkpoint(sample_file());
  std::mt19937_64 rng(20261125);
  auto pick = [&](std::size_t n) {
    return static_cast<std::size_t>(rng() % std::max<std::size_t>(n, 1));
  };
  int rejected = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    Bytes b = original;
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      switch (rng() % 8) {
        case 0:  // flip bits
          if (!b.empty()) b[pick(b.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
          break;
        case 1:  // random byte
          if (!b.empty()) b[pick(b.size())] = static_cast<std::uint8_t>(rng());
          break;
        case 2:  // truncate
          b.resize(pick(b.size() + 1));
          break;
        case 3:  // insert bytes
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), 1 + rng() % 16,
                   static_cast<std::uint8_t>(rng()));
          break;
        case 4: {  // delete a range
          if (b.empty()) break;
          const std::size_t at = pick(b.size());
          const std::size_t len = std::min<std::size_t>(1 + rng() % 16, b.size() - at);
          b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                  b.begin() + static_cast<std::ptrdiff_t>(at + len));
          break;
        }
        case 5:  // new header length
          if (b.size() >= 8) {
            const std::uint64_t n = (rng() % 2) ? rng() : rng() % (b.size() + 16);
            for (int i = 0; i < 8; ++i)
              b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
          }
          break;
        case 6: {  // JSON-ish characters into the header
          static constexpr char kChars[] = "{}[]\":,0123456789-. eE\\uF32I64U8";
          if (b.size() > 8)
            b[8 + pick(b.size() - 8)] =
                static_cast<std::uint8_t>(kChars[rng() % (sizeof kChars - 1)]);
          break;
        }
        default:  // swap two bytes
          if (!b.empty()) std::swap(b[pick(b.size())], b[pick(b.size())]);
          break;
      }
    }
    if (b == original) {
      EXPECT_NO_THROW(parse_checkpoint(b));
      continue;
    }
    EXPECT_THROW(parse_checkpoint(b, "mutant"), CheckpointError) << "iteration " << iter;
    ++rejected;
  }
  EXPECT_GT(rejected, 3500);
}

TEST(CheckpointFileRobustness, RandomGarbageIsRejected) {
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 500; ++iter) {
    Bytes b(rng() % 200);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (b.size() >= 8 && iter % 2 == 0) {  // plausible header length
      const std::uint64_t n = rng() % (b.size() - 7);
      for (int i = 0; i < 8; ++i)
        b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
    }
    EXPECT_THROW(parse_checkpoint(b, "garbage"), CheckpointError);
  }
}

// ---- 16-bit storage (lstm/half.h) ------------------------------------------------------------

TEST(HalfFloat, F16ConversionsAreExactOrRoundToNearestEven) {
  // Exactly representable values go and come back unchanged.
  for (float v : {0.0f, -0.0f, 1.0f, -2.5f, 0.099975586f, 65504.0f, -65504.0f, 6.1035156e-05f,
                  5.9604645e-08f /* 2^-24, the smallest subnormal */, 3.0517578e-05f}) {
    EXPECT_EQ(f16_to_float(float_to_f16(v)), v) << v;
  }
  EXPECT_EQ(float_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(float_to_f16(-2.0f), 0xC000);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even neighbour (1).
  EXPECT_EQ(float_to_f16(1.0f + 0x1p-11f), 0x3C00);
  EXPECT_EQ(float_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);         // halfway to odd 0x3C01: up, even
  EXPECT_EQ(float_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);  // above halfway: up
  // Range: 65519 rounds to 65504, 65520 to infinity; 2^-25 (a tie) to 0, above it to 2^-24.
  EXPECT_EQ(float_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(65520.0f), 0x7C00);
  EXPECT_EQ(float_to_f16(0x1p-25f), 0x0000);
  EXPECT_EQ(float_to_f16(0x1.8p-25f), 0x0001);
  EXPECT_EQ(float_to_f16(-1e-30f), 0x8000);
  EXPECT_TRUE(std::isinf(f16_to_float(float_to_f16(INFINITY))));
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(NAN))));
  // Every one of the 65536 patterns widens and narrows back to itself (NaNs stay NaN).
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_f16(f), h) << h;
  }
}

TEST(HalfFloat, Bf16KeepsTheUpperBitsRoundingToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f), 0x3F80);             // tie: to even
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 0x3F82);   // tie: to even (up)
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f + 0x1p-12f), 0x3F81);  // above halfway
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const float f = bf16_to_float(static_cast<std::uint16_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_bf16(f), b) << b;
  }
}

TEST(HalfFloat, CheckpointTensorsInF16AndBf16RoundTrip) {
  const std::vector<float> v = {0.5f, -1.25f, 0.1f, 1000.0f, -3e-6f, 0.0f};
  for (DType d : {DType::f16, DType::bf16}) {
    CheckpointFile f;
    f.tensors.push_back(make_tensor("w", std::span<const float>(v), {2, 3}, d));
    EXPECT_EQ(f.tensors.back().bytes.size(), 12u);
    const CheckpointFile g = parse_checkpoint(serialize_checkpoint(f));
    ASSERT_EQ(g.tensors.size(), 1u);
    EXPECT_EQ(g.tensors[0].dtype, d);
    const std::vector<float> back = as_floats(g.tensors[0]);
    ASSERT_EQ(back.size(), v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      // f16: 11 significant bits, bf16: 8 (relative error <= 2^-11, 2^-8); tiny values of
      // f16 are subnormal (absolute error <= 2^-25).
      const float tol =
          d == DType::f16 ? std::abs(v[i]) * 0x1p-11f + 0x1p-25f : std::abs(v[i]) * 0x1p-8f;
      EXPECT_NEAR(back[i], v[i], tol) << dtype_name(d) << " " << i;
      const float again =
          d == DType::f16 ? f16_to_float(float_to_f16(v[i])) : bf16_to_float(float_to_bf16(v[i]));
      EXPECT_EQ(back[i], again);
    }
  }
  // The header spells them as safetensors does.
  CheckpointFile f;
  f.tensors.push_back(make_tensor("w", std::span<const float>(v), {6}, DType::bf16));
  const auto bytes = serialize_checkpoint(f);
  EXPECT_NE(std::string(bytes.begin(), bytes.end()).find("\"BF16\""), std::string::npos);
}

TEST(HalfFloat, ValuesOutOfRangeAndWrongTypesAreRefused) {
  const std::vector<float> big = {1.0f, 70000.0f};
  try {
    make_tensor("layer0.W", std::span<const float>(big), {2}, DType::f16);
    FAIL() << "70000 stored in F16";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("layer0.W"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("element 1"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(make_tensor("w", std::span<const float>(big), {2}, DType::bf16));
  EXPECT_THROW(make_tensor("w", std::span<const float>(big), {2}, DType::i32), CheckpointError);
  EXPECT_THROW(make_tensor("w", std::span<const float>(big), {3}, DType::f16), CheckpointError);
  // A half tensor whose byte count does not match its shape is refused when read.
  NamedTensor t = make_tensor("w", std::span<const float>(big), {2}, DType::bf16);
  t.bytes.pop_back();
  EXPECT_THROW(as_floats(t), CheckpointError);
  EXPECT_THROW(as_int32s(make_tensor("w", std::span<const float>(big), {2}, DType::f16)),
               CheckpointError);
}

}  // namespace
}  // namespace melodl::lstm
