// kernels/runtime.h: is a CUDA device usable? CUDA-free header, valid in both builds.
#pragma once
#include <string>

namespace melodl::cuda {
// True when melodl was built with CUDA and a CUDA device is present and usable.
bool available();
// Why available() is false ("built without CUDA", "no CUDA device: <cuda error>"), or "".
std::string unavailable_reason();
}  // namespace melodl::cuda
