// lstm/checkpoint_file.h: the generic checkpoint file layer of the LSTM library.
// A checkpoint is a list of named tensors (raw little-endian element bytes plus dtype and
// shape) and a string->string metadata map, stored in the safetensors layout so common ML
// tools can read it, with melodl's integrity fields (format version, CRC-32C per tensor and
// over the whole file) in the "__metadata__" object. The exact layout is in
// docs/checkpoints.md. This layer knows nothing of LSTMs: the model code (parameters,
// optimiser state, RNG, data cursor) maps itself onto named tensors and metadata.
//
// Writes are atomic (temporary file in the same directory, fsync, rename, directory fsync):
// an existing file is replaced only when the new one is complete. Reads verify everything
// (header bounds, JSON structure, offsets, sizes, checksums) and throw CheckpointError naming
// the file and the problem; a damaged file never crashes and never causes an allocation
// larger than the file itself.
//
// Example:
//   CheckpointFile f;
//   f.tensors.push_back(make_tensor("layer0.W", weights, {input, 4 * hidden}));
//   f.metadata["model.layers"] = "2";
//   write_checkpoint_file("run/epoch-3.safetensors", f);
//   CheckpointFile g = read_checkpoint_file("run/epoch-3.safetensors");
//   std::vector<float> w = as_floats(find_tensor(g, "layer0.W"));
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/files.h"

namespace melodl::lstm {

// Element types; the file spells them F32, F64, I32, I64, U8, F16, BF16 (f16: IEEE binary16,
// bf16: bfloat16; lstm/half.h), the safetensors names.
enum class DType { f32, f64, i32, i64, u8, f16, bf16 };

// Bytes per element of `dtype` (4, 8, 4, 8, 1, 2, 2).
std::size_t dtype_size(DType dtype);
// The safetensors spelling of `dtype` ("F32", ...).
std::string_view dtype_name(DType dtype);

// One tensor: row-major, `bytes` holds the elements in little-endian order (exactly
// product(shape) * dtype_size(dtype) bytes; an empty shape is a scalar of one element).
struct NamedTensor {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};

// A whole checkpoint. Tensor names are unique and non-empty. `metadata` holds the caller's
// keys only: the integrity keys ("melodl.format", "melodl.crc32c.<name>",
// "melodl.file_crc32c") are reserved, added by the writer and removed by the reader.
struct CheckpointFile {
  std::vector<NamedTensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Every failure of this layer: I/O errors, damaged or malformed files, invalid arguments,
// dtype mismatches. Messages name the file (or tensor) and the problem. A melodl::Error
// (base/error.h): it covers I/O, format and argument failures alike, so it derives from
// the common base rather than from one of IoError / FormatError / InvalidArgument.
class CheckpointError : public ::melodl::Error {
 public:
  using ::melodl::Error::Error;
};

// Writes `file` to `path` atomically. Throws CheckpointError on invalid input (duplicate or
// empty names, byte counts that do not match shape and dtype, reserved metadata keys,
// strings that are not UTF-8), a missing folder, or any I/O failure; on failure an existing
// file at `path` is left untouched and no temporary file is left behind. `cancel` (optional)
// is polled before the file is created and between chunks of the write (base/files.h's
// AtomicFile): when it returns true the write is abandoned the same way and WriteCancelled
// (base/files.h) is thrown as is.
void write_checkpoint_file(const std::filesystem::path& path, const CheckpointFile& file,
                           const CancelCheck& cancel = {});

// Reads and verifies the checkpoint at `path`; tensors come back in file (write) order.
// Throws CheckpointError for anything that is not an intact melodl checkpoint.
CheckpointFile read_checkpoint_file(const std::filesystem::path& path);

// The exact bytes write_checkpoint_file would write, and the in-memory twin of
// read_checkpoint_file (`source_name` is used in error messages). For tests and fuzzing.
std::vector<std::uint8_t> serialize_checkpoint(const CheckpointFile& file);
CheckpointFile parse_checkpoint(std::span<const std::uint8_t> bytes,
                                std::string_view source_name = "<memory>");

// Builds a tensor from host values. Throws CheckpointError when data.size() differs from
// the product of `shape` or a dimension is negative.
NamedTensor make_tensor(std::string name, std::span<const float> data,
                        std::vector<std::int64_t> shape);
NamedTensor make_tensor(std::string name, std::span<const double> data,
                        std::vector<std::int64_t> shape);
NamedTensor make_tensor(std::string name, std::span<const std::int32_t> data,
                        std::vector<std::int64_t> shape);
NamedTensor make_tensor(std::string name, std::span<const std::int64_t> data,
                        std::vector<std::int64_t> shape);
NamedTensor make_tensor(std::string name, std::span<const std::uint8_t> data,
                        std::vector<std::int64_t> shape);
// Float values stored as `storage` (f32, f16 or bf16; 16-bit types round to nearest even).
// Throws CheckpointError naming the tensor for another dtype, or for a finite value that
// `storage` cannot hold (beyond +-65504 in f16, +-3.4e38 in bf16).
NamedTensor make_tensor(std::string name, std::span<const float> data,
                        std::vector<std::int64_t> shape, DType storage);

// The tensor's values. Each throws CheckpointError (naming the tensor) when the dtype is not
// the one asked for or the byte count does not match the shape. as_floats also reads F16 and
// BF16 tensors, widened exactly to float.
std::vector<float> as_floats(const NamedTensor& tensor);
std::vector<double> as_doubles(const NamedTensor& tensor);
std::vector<std::int32_t> as_int32s(const NamedTensor& tensor);
std::vector<std::int64_t> as_int64s(const NamedTensor& tensor);
std::vector<std::uint8_t> as_uint8s(const NamedTensor& tensor);

// The tensor called `name`; throws CheckpointError when there is none.
const NamedTensor& find_tensor(const CheckpointFile& file, std::string_view name);

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF) of
// `data`, continuing from `crc` (the value returned for the preceding bytes; 0 to start).
// crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(std::span<const std::uint8_t> data, std::uint32_t crc = 0);

}  // namespace melodl::lstm
