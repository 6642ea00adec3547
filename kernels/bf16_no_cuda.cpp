// kernels/bf16_no_cuda.cpp: the CUDA entry points added with GemmMath::kBf16 in a CPU-only
// build (next to kernels/no_cuda.cpp): the device rounding throws CudaError, the persistent
// forward fits nothing.
#include <string>

#include "kernels/bf16.h"
#include "kernels/lstm_layer.h"
#include "kernels/runtime.h"

namespace melodl::cuda {

void round_bf16(const float*, float*, int64_t, const ExecContext&) {
  throw CudaError("[cuda::round_bf16] " + unavailable_reason());
}
bool lstm_layer_forward_persistent_fits(int, int, GemmMath) { return false; }

}  // namespace melodl::cuda
