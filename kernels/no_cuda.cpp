// kernels/no_cuda.cpp: the CUDA entry points of a CPU-only build. available() is false and
// every launcher throws CudaError, so code calling them links and fails loudly at run time.
#include "kernels/lstm_pointwise.h"
#include "kernels/runtime.h"

namespace melodl::cuda {
namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw CudaError(std::string("[") + what + "] " + unavailable_reason());
}
}  // namespace

bool available() { return false; }
std::string unavailable_reason() {
  return "melodl was built without CUDA (MELODL_CUDA=OFF or no nvcc)";
}

void lstm_pointwise_fwd(const PointwiseFwdArgs&, const ExecContext&) {
  no_cuda("cuda::lstm_pointwise_fwd");
}
void lstm_pointwise_bwd(const PointwiseBwdArgs&, const ExecContext&) {
  no_cuda("cuda::lstm_pointwise_bwd");
}
}  // namespace melodl::cuda
