// lstm/cuda/device_util.h: the CUDA plumbing shared by the files of the CUDA backend
// (lstm/cuda/device_net.cpp, device_trainer.cpp, segment.cpp; interface lstm/cuda/backend.h):
// grow-only device workspaces and the allocation generation that invalidates captured CUDA
// graphs, owners of CUDA events, graph executables and pinned staging memory, asynchronous
// copies, and the translation of the kernels layer's errors into melodl::lstm's. Internal to
// lstm/cuda/ (not installed); host code only, compiled by the C++ compiler.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/cuda_check.cuh"
#include "kernels/gemm.h"
#include "kernels/runtime.h"
#include "lstm/error.h"
#include "lstm/execution.h"

namespace melodl::lstm::cudabk {

template <class T>
using Buf = cuda::DeviceBuffer<T>;

constexpr std::size_t kF = sizeof(float);

// Bumped by every device (re)allocation of a workspace: a captured CUDA graph is only valid
// while the buffers it captured live, so graphs remember the generation they were captured at
// (allocation_generation() in backend.h reads it).
inline std::atomic<std::uint64_t> g_alloc_generation{0};

// Grow-only (re)allocation; contents are undefined after a reallocation.
template <class T>
void ensure(Buf<T>& b, std::size_t n) {
  if (b.size() < n) {
    b = Buf<T>(n);
    g_alloc_generation.fetch_add(1, std::memory_order_relaxed);
  }
}

// Owners of a CUDA event, graph and graph executable (destructors never throw).
struct Event {
  cudaEvent_t e = nullptr;
  Event() { MELODL_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    if (e) cudaEventDestroy(e);
  }
};
struct GraphExec {
  cudaGraphExec_t exec = nullptr;
  std::uint64_t generation = 0;
  GraphExec() = default;
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  ~GraphExec() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

// Pinned host staging buffer (page-locked: truly asynchronous uploads). Reused only after
// the copies out of it finished (done_ is recorded after them).
class Staging {
 public:
  Staging() = default;
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {
    if (p_) cudaFreeHost(p_);
  }
  // Host memory for `bytes`, free to overwrite (waits for earlier uploads from it).
  char* get(std::size_t bytes) {
    if (in_flight_) MELODL_CUDA_CHECK(cudaEventSynchronize(done_.e));
    in_flight_ = false;
    if (bytes > n_) {
      if (p_) MELODL_CUDA_CHECK(cudaFreeHost(p_));
      p_ = nullptr;
      n_ = 0;
      void* q = nullptr;
      MELODL_CUDA_CHECK(cudaMallocHost(&q, bytes));
      p_ = static_cast<char*>(q);
      n_ = bytes;
    }
    return p_;
  }
  // Marks the end of the uploads enqueued on s from the buffer.
  void uploaded(cudaStream_t s) {
    MELODL_CUDA_CHECK(cudaEventRecord(done_.e, s));
    in_flight_ = true;
  }

 private:
  char* p_ = nullptr;
  std::size_t n_ = 0;
  Event done_;
  bool in_flight_ = false;
};

// Runs fn, rethrowing the kernels layer's errors (melodl::cuda::InvalidArgument / CudaError)
// as melodl::lstm::InvalidArgument / Error with "[where] " in front.
template <class F>
auto guarded(const char* where, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const cuda::InvalidArgument& e) {
    throw InvalidArgument(std::string("[") + where + "] " + e.what());
  } catch (const cuda::CudaError& e) {
    throw Error(std::string("[") + where + "] " + e.what());
  }
}

// Asynchronous copies on stream s (no-ops for 0 bytes).
inline void h2d(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
  if (bytes > 0) MELODL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
}
inline void d2h(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
  if (bytes > 0) MELODL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
}
inline void d2d(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
  if (bytes > 0) MELODL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
}

// The kernels layer's GEMM precision for ExecutionOptions::cuda_math.
inline cuda::GemmMath gemm_math(const ExecutionOptions& e) {
  switch (e.cuda_math) {
    case CudaMath::fp32:
      return cuda::GemmMath::kFp32;
    case CudaMath::bf16:
      return cuda::GemmMath::kBf16;
    case CudaMath::tf32:
      break;
  }
  return cuda::GemmMath::kTf32;
}

}  // namespace melodl::lstm::cudabk
