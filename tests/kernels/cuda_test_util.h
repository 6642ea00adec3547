// tests/kernels/cuda_test_util.h: helpers for the CUDA kernel tests: a fixture that skips
// with melodl::cuda::unavailable_reason() when no device is usable, host<->device copies,
// and the self-calibrating tolerance of style.md 2.6 item 3.
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

// atol for comparing an fp32 implementation with ref<double>: at least `floor`, and at least
// 4x the error of ref<float> (same math, sequential order) so it follows shape and length.
template <typename F>
double calibrated_atol(const std::vector<F>& ref_float, const std::vector<double>& ref_double,
                       double floor) {
  return std::max(floor, 4 * max_abs_diff(ref_float, ref_double));
}

}  // namespace melodl::test
