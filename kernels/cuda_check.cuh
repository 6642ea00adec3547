// kernels/cuda_check.cuh: CUDA/cuBLAS error checking and RAII owners for the CUDA backend.
// Host-only (no device code), so host .cpp files linking CUDA::cudart may include it too.
//   MELODL_CUDA_CHECK(expr)    throws CudaError when a cudaError_t call fails
//   MELODL_CUBLAS_CHECK(expr)  throws CudaError when a cublasStatus_t call fails
//   MELODL_CUDA_CHECK_LAUNCH(stream) after every kernel launch on `stream`:
//                              cudaGetLastError(); with MELODL_CUDA_SYNC_DEBUG it also
//                              synchronises the stream, so asynchronous faults surface at the
//                              launch that caused them, unless the stream is being captured
//                              into a CUDA graph (a synchronisation would invalidate the
//                              capture; the graph's launch reports the fault instead).
//                              MELODL_CUDA_CHECK_LAUNCH() without a stream only checks the
//                              launch error.
// detail::bind_blas sets a cuBLAS handle's stream and math mode only when they change.
// DeviceBuffer<T> (move-only device allocation) and DeviceContext (stream + cuBLAS handle)
// release in destructors that never throw.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "kernels/common.h"

namespace melodl::cuda::detail {

inline std::string where(const char* expr, const char* file, int line) {
  return std::string(expr) + " at " + file + ":" + std::to_string(line);
}

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* expr, const char* file, int line) {
  throw CudaError(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
                  ") in " + where(expr, file, line));
}

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
    default:
      return "CUBLAS_STATUS_<unknown>";
  }
}

[[noreturn]] inline void throw_cublas(cublasStatus_t s, const char* expr, const char* file,
                                      int line) {
  throw CudaError(std::string("cuBLAS error ") + cublas_status_name(s) + " (status " +
                  std::to_string(static_cast<int>(s)) + ") in " + where(expr, file, line));
}

// The launch check of MELODL_CUDA_CHECK_LAUNCH, called with the launch stream or without.
struct LaunchCheck {
  const char* file;
  int line;
  void operator()() const {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) throw_cuda(e, "kernel launch", file, line);
  }
  void operator()(cudaStream_t stream) const {
    (*this)();
#ifdef MELODL_CUDA_SYNC_DEBUG
    // Synchronising a capturing stream (or the device while it captures) is illegal and
    // invalidates the capture: only synchronise streams that run their work now.
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    cudaError_t e = cudaStreamIsCapturing(stream, &status);
    if (e != cudaSuccess)
      throw_cuda(e, "cudaStreamIsCapturing (MELODL_CUDA_SYNC_DEBUG)", file, line);
    if (status != cudaStreamCaptureStatusNone) return;
    e = cudaStreamSynchronize(stream);
    if (e != cudaSuccess) throw_cuda(e, "kernel execution (MELODL_CUDA_SYNC_DEBUG)", file, line);
#else
    (void)stream;
#endif
  }
};

}  // namespace melodl::cuda::detail

#define MELODL_CUDA_CHECK(expr)                                                        \
  do {                                                                                 \
    const cudaError_t melodl_cuda_err_ = (expr);                                       \
    if (melodl_cuda_err_ != cudaSuccess)                                               \
      ::melodl::cuda::detail::throw_cuda(melodl_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define MELODL_CUBLAS_CHECK(expr)                                                         \
  do {                                                                                    \
    const cublasStatus_t melodl_cublas_st_ = (expr);                                      \
    if (melodl_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                       \
      ::melodl::cuda::detail::throw_cublas(melodl_cublas_st_, #expr, __FILE__, __LINE__); \
  } while (0)

#define MELODL_CUDA_CHECK_LAUNCH(...) \
  ::melodl::cuda::detail::LaunchCheck{__FILE__, __LINE__}(__VA_ARGS__)

namespace melodl::cuda {

namespace detail {
// Binds `blas` to `stream` and math mode `mode`, calling cublasSetStream/cublasSetMathMode
// only when the handle's current setting (read back from the handle, so a new handle at a
// recycled address is never mistaken for an old one) differs: a GEMM on an unchanged
// context costs two getter calls, and the handle's workspace (which cublasSetStream resets)
// is kept.
inline void bind_blas(cublasHandle_t blas, cudaStream_t stream, cublasMath_t mode) {
  cudaStream_t current = nullptr;
  MELODL_CUBLAS_CHECK(cublasGetStream(blas, &current));
  if (current != stream) MELODL_CUBLAS_CHECK(cublasSetStream(blas, stream));
  cublasMath_t current_mode = CUBLAS_DEFAULT_MATH;
  MELODL_CUBLAS_CHECK(cublasGetMathMode(blas, &current_mode));
  if (current_mode != mode) MELODL_CUBLAS_CHECK(cublasSetMathMode(blas, mode));
}
}  // namespace detail

// Move-only owner of n elements of T in device memory (uninitialised).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n) {
    if (n_ > 0) MELODL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), n_ * sizeof(T)));
  }
  // Allocates and copies host data (synchronous).
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  T* get() const { return ptr_; }
  std::size_t size() const { return n_; }

  // Synchronous: returns when the data is on the device. (A pageable cudaMemcpy may return
  // before its DMA lands, and kernels on a non-blocking stream do not wait for the legacy
  // stream, hence the explicit synchronisation.)
  void upload(const std::vector<T>& host) {
    require(host.size() == n_, "DeviceBuffer::upload",
            "host size " + std::to_string(host.size()) + " != device size " + std::to_string(n_));
    if (n_ > 0) {
      MELODL_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
      MELODL_CUDA_CHECK(cudaStreamSynchronize(nullptr));
    }
  }
  // Waits for the legacy default stream only: synchronise the stream that wrote the data
  // first (DeviceContext::synchronize).
  std::vector<T> download() const {
    std::vector<T> host(n_);
    if (n_ > 0)
      MELODL_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  // Synchronous, like upload().
  void zero() {
    if (n_ > 0) {
      MELODL_CUDA_CHECK(cudaMemset(ptr_, 0, n_ * sizeof(T)));
      MELODL_CUDA_CHECK(cudaStreamSynchronize(nullptr));
    }
  }

 private:
  void release() noexcept {
    if (ptr_ != nullptr) {
      const cudaError_t e = cudaFree(ptr_);  // never throw from a destructor: report only
      if (e != cudaSuccess && e != cudaErrorCudartUnloading)
        std::fprintf(stderr, "melodl: cudaFree failed: %s\n", cudaGetErrorString(e));
      ptr_ = nullptr;
    }
  }
  T* ptr_ = nullptr;
  std::size_t n_ = 0;
};

// Move-only owner of a non-blocking stream and a cuBLAS handle bound to it.
class DeviceContext {
 public:
  explicit DeviceContext(GemmMath math = GemmMath::kTf32) : math_(math) {
    MELODL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    const cublasStatus_t s = cublasCreate(&blas_);
    if (s != CUBLAS_STATUS_SUCCESS) {
      cudaStreamDestroy(stream_);
      detail::throw_cublas(s, "cublasCreate(&blas_)", __FILE__, __LINE__);
    }
    MELODL_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
  }
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;
  DeviceContext(DeviceContext&& o) noexcept
      : stream_(std::exchange(o.stream_, nullptr)),
        blas_(std::exchange(o.blas_, nullptr)),
        math_(o.math_) {}
  DeviceContext& operator=(DeviceContext&& o) noexcept {
    if (this != &o) {
      release();
      stream_ = std::exchange(o.stream_, nullptr);
      blas_ = std::exchange(o.blas_, nullptr);
      math_ = o.math_;
    }
    return *this;
  }
  ~DeviceContext() { release(); }

  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  ExecContext exec() const { return ExecContext{stream_, blas_, math_}; }
  void set_math(GemmMath math) { math_ = math; }
  void synchronize() const { MELODL_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  void release() noexcept {
    if (blas_ != nullptr) {
      if (cublasDestroy(blas_) != CUBLAS_STATUS_SUCCESS)
        std::fprintf(stderr, "melodl: cublasDestroy failed\n");
      blas_ = nullptr;
    }
    if (stream_ != nullptr) {
      const cudaError_t e = cudaStreamDestroy(stream_);
      if (e != cudaSuccess && e != cudaErrorCudartUnloading)
        std::fprintf(stderr, "melodl: cudaStreamDestroy failed: %s\n", cudaGetErrorString(e));
      stream_ = nullptr;
    }
  }
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  GemmMath math_ = GemmMath::kTf32;
};

}  // namespace melodl::cuda
