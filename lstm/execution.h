// lstm/execution.h: how and where a Network or Trainer computes — the execution choices,
// kept apart from the model's shape (NetworkConfig, lstm/network.h). A checkpoint holds the
// model only: these options are given again wherever a Network or Trainer is built or loaded
// (Network's constructors, LoadedCheckpoint::make_network / make_trainer), so a run may move
// between devices or thread counts without touching the model.
//
// Example:
//   melodl::lstm::ExecutionOptions exec;
//   exec.device = melodl::lstm::Device::automatic;  // cuda when usable, else cpu
//   exec.threads = 1;                               // deterministic per thread count
//   melodl::lstm::Network net(cfg, exec);
#pragma once

#include <string>
#include <string_view>

namespace melodl::lstm {

// Where Network and Trainer compute. cuda: an error naming the reason when this build has no
// CUDA or no device is usable; automatic: cuda when usable, else cpu.
enum class Device { cpu, cuda, automatic };

// GEMM precision of the CUDA backend: tf32 (TF32 tensor cores, fp32 accumulation, the
// default), fp32 (exact fp32) or bf16 (operands rounded to bf16, fp32 accumulation; the
// persistent kernels then hold R and h on chip in bf16). Storage of parameters, activations
// and cell state stays fp32.
enum class CudaMath { tf32, fp32, bf16 };

// "cpu", "cuda", "auto" / "tf32", "fp32", "bf16".
std::string to_string(Device device);
std::string to_string(CudaMath math);
// The inverse of to_string; throws InvalidArgument naming the value and the accepted ones.
Device device_from_string(std::string_view text);
CudaMath cuda_math_from_string(std::string_view text);

struct ExecutionOptions {
  Device device = Device::cpu;
  int threads = 0;  // CPU threads for training; 0 = all hardware threads
  // The options below are ignored on the CPU.
  CudaMath cuda_math = CudaMath::tf32;
  // Experimental: the layers as the persistent variant-(b) kernels (R kept on chip across
  // all steps; kernels/lstm_layer.h) wherever the device can run the shape, variant (a)
  // elsewhere. Same results up to rounding.
  bool cuda_persistent = false;
  // Experimental: capture each TBPTT segment's forward and backward as a CUDA Graph, one per
  // segment shape, replayed with one launch (the ~500 kernel launches of a seed segment
  // otherwise cost 2-5 us each on the host). Bitwise the same results.
  bool cuda_graphs = false;
  // Experimental: > 0 runs the layers as a wavefront, layer l on its own stream working on
  // chunks of this many steps while layer l+1 works on the previous chunk (and the reverse in
  // backward); 0 = layer after layer. Equal up to rounding (weight gradients summed per
  // chunk). Not combined with cuda_persistent (cooperative kernels cannot share the GPU).
  int cuda_wavefront = 0;

  // Throws InvalidArgument naming the field and the value when a field is out of range.
  void validate() const;
  // Threads actually used (threads, or the hardware concurrency when 0).
  int resolved_threads() const;
  // Flat JSON object with the fields above (device and cuda_math as their strings), for a
  // caller's own run settings. from_json reads such an object: missing keys keep their
  // defaults, other keys are ignored (a NetworkConfig's fields may share the object); throws
  // InvalidArgument on bad values.
  std::string to_json() const;
  static ExecutionOptions from_json(const std::string& text);
};

// The backend `device` resolves to: Device::cpu or Device::cuda. Throws InvalidArgument for
// Device::cuda when CUDA is unusable ("built without CUDA" in a CPU-only build, the device
// probe's reason otherwise).
Device resolve_device(Device device);

}  // namespace melodl::lstm
