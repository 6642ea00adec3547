// tests/kernels/cuda_test_util.h: helpers for the CUDA kernel tests: a fixture that skips
// with melodl::cuda::unavailable_reason() when no device is usable, host<->device copies.
// (The self-calibrating tolerance of style.md 2.6 item 3, calibrated_atol, is in test_util.h.)
#pragma once
#include <gtest/gtest.h>

#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/runtime.h"
#include "tests/kernels/test_util.h"

namespace melodl::test {

// Every CUDA test derives from this; SetUp skips (not fails) without a device.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!melodl::cuda::available()) GTEST_SKIP() << melodl::cuda::unavailable_reason();
  }
};

template <typename P>
class CudaParamTest : public ::testing::TestWithParam<P> {
 protected:
  void SetUp() override {
    if (!melodl::cuda::available()) GTEST_SKIP() << melodl::cuda::unavailable_reason();
  }
};

template <typename T>
cuda::DeviceBuffer<T> to_device(const std::vector<T>& host) {
  return cuda::DeviceBuffer<T>(host);
}

// Round doubles to float and back, so a double reference sees exactly the GPU's inputs.
inline std::vector<double> as_float(const std::vector<double>& v) {
  return cast<double>(cast<float>(v));
}

}  // namespace melodl::test
