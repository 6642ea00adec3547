// kernels/persistent_plan.cuh: launch planning of the persistent (cooperative) kernels,
// done once per device, kernel and shape instead of on every launch. Host-only (no device
// code), like cuda_check.cuh.
//   device_limits()      the current device's SM count, opt-in shared memory per block and
//                        cooperative-launch support: queried once per device.
//   blocks_per_sm(...)   the occupancy calculator's answer for (kernel, threads, dynamic
//                        shared memory) on the current device, cached. The first query of a
//                        kernel on a device raises its cudaFuncAttributeMaxDynamicSharedMemorySize
//                        once to all the device allows that kernel, so the attribute is never
//                        lowered again: a launch (or a captured CUDA graph) planned for a larger
//                        shape stays valid after a smaller shape was planned.
//   PlanCache<Key, Plan> a thread-safe memo of whole plans (one per key: device, kernel
//                        variant and shape), so a repeated launch runs no runtime query
//                        apart from cudaGetDevice (a thread-local read).
// Every cache is guarded by its own mutex; a plan is computed under its cache's lock, which
// may take the device-limit and occupancy locks (always in that order), so concurrent first
// launches query each fact once. A query that fails throws CudaError and caches nothing.
// Tests: tests/kernels/host_runtime_test.cpp (label cpu; counts the runtime calls through
// stubs of the CUDA runtime).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "kernels/cuda_check.cuh"

namespace melodl::cuda::detail {

struct DeviceLimits {
  int device = 0;
  int sms = 0;         // cudaDevAttrMultiProcessorCount
  int smem_optin = 0;  // cudaDevAttrMaxSharedMemoryPerBlockOptin (bytes)
  bool cooperative = false;
};

// The current device's limits (queried on the first call per device).
inline DeviceLimits device_limits() {
  static std::mutex mu;
  static std::map<int, DeviceLimits> cache;
  int dev = 0;
  MELODL_CUDA_CHECK(cudaGetDevice(&dev));
  const std::lock_guard<std::mutex> lock(mu);
  const auto it = cache.find(dev);
  if (it != cache.end()) return it->second;
  DeviceLimits d;
  d.device = dev;
  int coop = 0;
  MELODL_CUDA_CHECK(cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev));
  MELODL_CUDA_CHECK(
      cudaDeviceGetAttribute(&d.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  MELODL_CUDA_CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev));
  d.cooperative = coop != 0;
  cache.emplace(dev, d);
  return d;
}

// Resident blocks per SM of `kernel` with `threads` threads and `smem` bytes of dynamic
// shared memory on device d.device (the current device). smem must not exceed what
// the device allows (the callers check smem <= d.smem_optin first).
inline int blocks_per_sm(const void* kernel, const DeviceLimits& d, int threads, std::size_t smem) {
  static std::mutex mu;
  static std::map<std::pair<const void*, int>, int> raised;  // (kernel, device) -> attribute
  static std::map<std::tuple<const void*, int, int, std::size_t>, int> occupancy;
  const std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(kernel, d.device, threads, smem);
  const auto it = occupancy.find(key);
  if (it != occupancy.end()) return it->second;
  if (!raised.count({kernel, d.device})) {
    // All the device allows this kernel: the opt-in limit less its static shared memory.
    cudaFuncAttributes attr{};
    MELODL_CUDA_CHECK(cudaFuncGetAttributes(&attr, kernel));
    const int max_dynamic = d.smem_optin - static_cast<int>(attr.sharedSizeBytes);
    MELODL_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_dynamic));
    raised.emplace(std::make_pair(kernel, d.device), max_dynamic);
  }
  int per_sm = 0;
  MELODL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem));
  occupancy.emplace(key, per_sm);
  return per_sm;
}

// A thread-safe memo: get(key, make) returns the plan stored for key, computing it with
// make() (under the lock) the first time. Plans are never evicted (one per shape in use).
template <typename Key, typename Plan>
class PlanCache {
 public:
  template <typename Make>
  Plan get(const Key& key, Make&& make) {
    const std::lock_guard<std::mutex> lock(mu_);
    const auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    return plans_.emplace(key, std::forward<Make>(make)()).first->second;
  }

 private:
  std::mutex mu_;
  std::map<Key, Plan> plans_;
};

}  // namespace melodl::cuda::detail
