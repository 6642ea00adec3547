// kernels/runtime.cu: CUDA device discovery for a CUDA build.
#include <cuda_runtime.h>

#include <string>

#include "kernels/runtime.h"

namespace melodl::cuda {
namespace {
std::string probe() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return std::string("no usable CUDA device: cudaGetDeviceCount failed: ") + cudaGetErrorName(e) +
           " (" + cudaGetErrorString(e) + ")";
  }
  if (n == 0) return "no CUDA device present";
  return "";
}
}  // namespace

std::string unavailable_reason() {
  static const std::string reason = probe();
  return reason;
}
bool available() { return unavailable_reason().empty(); }
}  // namespace melodl::cuda
