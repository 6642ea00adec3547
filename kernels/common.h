// kernels/common.h: CUDA-free vocabulary shared by every kernel header in kernels/.
// Opaque CUDA handle types (so headers never include CUDA), the error types thrown by
// launchers (derived from base/error.h's melodl::Error / InvalidArgument), argument
// checking and the execution context a launcher runs on.
// Shape legend used by every header: T = time steps in a TBPTT segment, B = batch,
// I = input size, H = hidden size, G = 4H (gate blocks i, f, g, o), V = vocabulary size,
// N = rows (T*B). All tensors are row-major, contiguous, time-major [T,B,.], fp32.
#pragma once
#include <cstdint>
#include <string>

#include "base/error.h"

struct CUstream_st;    // cudaStream_t is CUstream_st*
struct cublasContext;  // cublasHandle_t is cublasContext*

namespace melodl::cuda {

using Stream = CUstream_st*;
using BlasHandle = cublasContext*;

// A CUDA or cuBLAS call failed, or CUDA is unavailable (CPU-only build, no device).
// The message names the call, the CUDA error name and string, and file:line.
class CudaError : public ::melodl::Error {
 public:
  using ::melodl::Error::Error;
};

// A launcher was called with arguments that break its contract (bad size, null pointer).
class InvalidArgument : public ::melodl::InvalidArgument {
 public:
  using ::melodl::InvalidArgument::InvalidArgument;
};

// Throws InvalidArgument("[where] what") when cond is false.
inline void require(bool cond, const char* where, const std::string& what) {
  if (!cond) throw InvalidArgument(std::string("[") + where + "] " + what);
}

// Precision of the matrix products (storage in global memory is fp32 in every mode).
// kTf32: TF32 tensor cores, fp32 accumulation (default, ~1e-3 relative error per product).
// kFp32: exact fp32 SIMT math (slower on large GEMMs).
// kBf16: operands rounded to bf16 (8-bit significand, round to nearest even), products
//   accumulated in fp32; inputs and outputs stay fp32 in global memory. cuda::gemm asks
//   cuBLAS for CUBLAS_COMPUTE_32F_FAST_16BF (bf16 tensor cores; cuBLAS may also pick TF32,
//   which is more accurate); the persistent layer forward holds R and h_{t-1} as bf16 in
//   shared memory (half the bytes, so larger shapes fit; kernels/lstm_layer_persistent.cu).
//   Cell state, pointwise math and all outputs stay fp32. CPU spec: kernels/bf16.h.
enum class GemmMath { kTf32, kFp32, kBf16 };

// Where a launcher runs: a stream, and (for launchers that call cuBLAS) a cuBLAS handle.
// Non-owning; see DeviceContext in kernels/cuda_check.cuh for an owner.
struct ExecContext {
  Stream stream = nullptr;    // nullptr = the legacy default stream
  BlasHandle blas = nullptr;  // required by GEMM users (gemm, lstm_layer_*)
  GemmMath math = GemmMath::kTf32;
};

}  // namespace melodl::cuda
