// kernels/no_cuda.cpp: the CUDA entry points of a CPU-only build. available() is false and
// every launcher throws CudaError, so code calling them links and fails loudly at run time.
// The *_ref.cpp references are built in this configuration too.
#include <string>

#include "kernels/dropout.h"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/lstm_pointwise.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "kernels/runtime.h"
#include "kernels/sample.h"
#include "kernels/softmax_xent.h"

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
void apply_mask(const float*, const float*, float*, int64_t, const ExecContext&) {
  no_cuda("cuda::apply_mask");
}
void column_sum(const float*, int64_t, int64_t, float*, bool, const ExecContext&) {
  no_cuda("cuda::column_sum");
}
void sum(const float*, int64_t, bool, float*, float*, const ExecContext&) { no_cuda("cuda::sum"); }
void gemm(const ExecContext&, bool, bool, int, int, int, float, const float*, int, const float*,
          int, float, float*, int) {
  no_cuda("cuda::gemm");
}
void gather_rows(const GatherArgs&, const ExecContext&) { no_cuda("cuda::gather_rows"); }
void onehot_weight_grad(const OnehotGradArgs&, const ExecContext&) {
  no_cuda("cuda::onehot_weight_grad");
}
void softmax_xent(const SoftmaxXentArgs&, const ExecContext&) { no_cuda("cuda::softmax_xent"); }
void optim_step(const OptimArgs&, const ExecContext&) { no_cuda("cuda::optim_step"); }
void lstm_layer_forward(const LayerFwdArgs&, const ExecContext&) {
  no_cuda("cuda::lstm_layer_forward");
}
void lstm_layer_backward(const LayerBwdArgs&, const ExecContext&) {
  no_cuda("cuda::lstm_layer_backward");
}
bool lstm_layer_forward_persistent_fits(int, int) { return false; }
void lstm_layer_forward_persistent(const LayerFwdArgs&, const ExecContext&) {
  no_cuda("cuda::lstm_layer_forward_persistent");
}
bool lstm_layer_backward_persistent_fits(int, int, int) { return false; }
void lstm_layer_backward_persistent(const LayerBwdArgs&, const ExecContext&, int) {
  no_cuda("cuda::lstm_layer_backward_persistent");
}
bool lstm_layer_forward_persistent_splitk_fits(int, int, const PersistentSplitKOptions&) {
  return false;
}
void lstm_layer_forward_persistent_splitk(const LayerFwdArgs&, const ExecContext&,
                                          const PersistentSplitKOptions&) {
  no_cuda("cuda::lstm_layer_forward_persistent_splitk");
}
bool lstm_layer_forward_persistent_fits(int, int, PersistentFwd) { return false; }
void lstm_layer_forward_persistent(const LayerFwdArgs&, const ExecContext&, PersistentFwd) {
  no_cuda("cuda::lstm_layer_forward_persistent");
}
void sample(const SampleArgs&, const ExecContext&) { no_cuda("cuda::sample"); }
}  // namespace melodl::cuda
