// lstm/execution.cpp: ExecutionOptions and the Device / CudaMath names. See execution.h.
#include "lstm/execution.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "lstm/cuda/backend.h"
#include "lstm/error.h"

namespace melodl::lstm {

std::string to_string(Device device) {
  switch (device) {
    case Device::cpu:
      return "cpu";
    case Device::cuda:
      return "cuda";
    case Device::automatic:
      return "auto";
  }
  return "?";
}

std::string to_string(CudaMath math) {
  switch (math) {
    case CudaMath::tf32:
      return "tf32";
    case CudaMath::fp32:
      return "fp32";
    case CudaMath::bf16:
      return "bf16";
  }
  return "?";
}

Device device_from_string(std::string_view text) {
  if (text == "cpu") return Device::cpu;
  if (text == "cuda") return Device::cuda;
  if (text == "auto") return Device::automatic;
  throw InvalidArgument("[device] unknown device \"" + std::string(text) +
                        "\" (expected \"cpu\", \"cuda\" or \"auto\")");
}

CudaMath cuda_math_from_string(std::string_view text) {
  if (text == "tf32") return CudaMath::tf32;
  if (text == "fp32") return CudaMath::fp32;
  if (text == "bf16") return CudaMath::bf16;
  throw InvalidArgument("[cuda_math] unknown GEMM precision \"" + std::string(text) +
                        "\" (expected \"tf32\", \"fp32\" or \"bf16\")");
}

void ExecutionOptions::validate() const {
  auto fail = [](const std::string& field, const std::string& what, const std::string& got) {
    throw InvalidArgument("[ExecutionOptions::validate] " + field + " " + what + ", got " + got);
  };
  if (threads < 0 || threads > 1024)
    fail("threads", "must be in [0, 1024]", std::to_string(threads));
  if (cuda_wavefront < 0 || cuda_wavefront > 1000000)
    fail("cuda_wavefront", "must be in [0, 1000000] (steps per chunk; 0 = off)",
         std::to_string(cuda_wavefront));
}

int ExecutionOptions::resolved_threads() const {
  if (threads > 0) return threads;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

std::string ExecutionOptions::to_json() const {
  nlohmann::json j;
  j["threads"] = threads;
  j["device"] = to_string(device);
  j["cuda_math"] = to_string(cuda_math);
  j["cuda_persistent"] = cuda_persistent;
  j["cuda_graphs"] = cuda_graphs;
  j["cuda_wavefront"] = cuda_wavefront;
  return j.dump();
}

ExecutionOptions ExecutionOptions::from_json(const std::string& text) {
  ExecutionOptions o;
  try {
    const auto j = nlohmann::json::parse(text);
    o.threads = j.value("threads", 0);
    o.device = device_from_string(j.value("device", std::string("cpu")));
    o.cuda_math = cuda_math_from_string(j.value("cuda_math", std::string("tf32")));
    o.cuda_persistent = j.value("cuda_persistent", false);
    o.cuda_graphs = j.value("cuda_graphs", false);
    o.cuda_wavefront = j.value("cuda_wavefront", 0);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(
        std::string("[ExecutionOptions::from_json] bad execution options JSON: ") + e.what());
  }
  return o;
}

Device resolve_device(Device device) {
  return cudabk::use_cuda(device) ? Device::cuda : Device::cpu;
}

}  // namespace melodl::lstm
