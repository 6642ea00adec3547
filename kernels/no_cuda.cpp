// kernels/no_cuda.cpp: the CUDA entry points of a CPU-only build.
#include "kernels/runtime.h"

namespace melodl::cuda {
bool available() { return false; }
std::string unavailable_reason() { return "melodl was built without CUDA (MELODL_CUDA=OFF or no nvcc)"; }
}  // namespace melodl::cuda
