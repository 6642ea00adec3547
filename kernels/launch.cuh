// kernels/launch.cuh: device-side helpers shared by the .cu files of kernels/:
// grid arithmetic and the activation functions. Included only by .cu files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace melodl::cuda::detail {

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Activations in fp32. Accurate expf/tanhf by default; MELODL_CUDA_FAST_MATH builds use
// --use_fast_math, which maps expf to __expf (~2 ulp) and is tested with its own tolerances.
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float tanh_act(float x) { return tanhf(x); }

}  // namespace melodl::cuda::detail
