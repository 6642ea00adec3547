// lstm/cuda/no_cuda.cpp: the CUDA backend interface (lstm/cuda/backend.h) in a CPU-only build
// (MELODL_CUDA=OFF or no nvcc). use_cuda(Device::cuda) throws "built without CUDA"; automatic
// resolves to the CPU, so no DeviceNet or DeviceTrainer is ever constructed and the other
// members only exist to link (each throws if reached).
#include "kernels/runtime.h"
#include "lstm/cuda/backend.h"

namespace melodl::lstm::cudabk {

namespace {
[[noreturn]] void unreachable(const char* what) {
  throw Error(std::string("[") + what + "] " + cuda::unavailable_reason());
}
}  // namespace

std::uint64_t allocation_generation() { return 0; }  // no device workspaces exist

bool use_cuda(Device device) {
  if (device == Device::cpu || device == Device::automatic) return false;
  throw InvalidArgument("[device] device \"cuda\" is not usable: " + cuda::unavailable_reason());
}

struct DeviceNet::Impl {};
struct DeviceTrainer::Impl {};

DeviceNet::DeviceNet(const NetworkConfig&, const ExecutionOptions&, const ParamLayout&) {
  unreachable("DeviceNet");
}
DeviceNet::~DeviceNet() = default;
void DeviceNet::upload_params(const float*) { unreachable("DeviceNet::upload_params"); }
void DeviceNet::download_params(float*) { unreachable("DeviceNet::download_params"); }
void DeviceNet::run(std::span<const std::int32_t>, int, State&, std::span<float>) {
  unreachable("DeviceNet::run");
}

void DeviceNet::session_begin(int) { unreachable("DeviceNet::session_begin"); }
void DeviceNet::session_reset_rows(std::span<const int>) {
  unreachable("DeviceNet::session_reset_rows");
}
void DeviceNet::session_step(std::span<const std::int32_t>, std::span<float>) {
  unreachable("DeviceNet::session_step");
}
void DeviceNet::session_generate(int, float, std::span<const float>, std::span<std::int32_t>) {
  unreachable("DeviceNet::session_generate");
}

DeviceTrainer::DeviceTrainer(DeviceNet&, const OptimizerConfig&, std::span<const std::uint8_t>) {
  unreachable("DeviceTrainer");
}
DeviceTrainer::~DeviceTrainer() = default;
void DeviceTrainer::upload_state(DeviceNet&, StateSlot, const State&) {
  unreachable("DeviceTrainer::upload_state");
}
void DeviceTrainer::zero_state(DeviceNet&, StateSlot, int) {
  unreachable("DeviceTrainer::zero_state");
}
void DeviceTrainer::download_state(DeviceNet&, StateSlot, State&) {
  unreachable("DeviceTrainer::download_state");
}
int DeviceTrainer::state_batch(StateSlot) const { return 0; }
void DeviceTrainer::enqueue_segment(DeviceNet&, const Batch&, StateSlot, int, bool,
                                    std::span<const float>) {
  unreachable("DeviceTrainer::enqueue_segment");
}
void DeviceTrainer::enqueue_grad_sumsq(DeviceNet&) {
  unreachable("DeviceTrainer::enqueue_grad_sumsq");
}
void DeviceTrainer::enqueue_param_sumsq(DeviceNet&) {
  unreachable("DeviceTrainer::enqueue_param_sumsq");
}
int DeviceTrainer::enqueue_weight_sumsq(DeviceNet&) {
  unreachable("DeviceTrainer::enqueue_weight_sumsq");
}
void DeviceTrainer::enqueue_update(DeviceNet&, const OptimizerConfig&, float, float, bool, int,
                                   std::int64_t) {
  unreachable("DeviceTrainer::enqueue_update");
}
std::vector<double> DeviceTrainer::read_scalars(DeviceNet&, int) {
  unreachable("DeviceTrainer::read_scalars");
}
void DeviceTrainer::download_grads(DeviceNet&, float*) {
  unreachable("DeviceTrainer::download_grads");
}
void DeviceTrainer::upload_grads(DeviceNet&, const float*) {
  unreachable("DeviceTrainer::upload_grads");
}
void DeviceTrainer::download_slots(DeviceNet&, std::vector<std::vector<float>>&) {
  unreachable("DeviceTrainer::download_slots");
}
void DeviceTrainer::upload_slots(DeviceNet&, const std::vector<std::vector<float>>&) {
  unreachable("DeviceTrainer::upload_slots");
}

}  // namespace melodl::lstm::cudabk
