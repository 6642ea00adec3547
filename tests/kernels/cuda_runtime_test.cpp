// tests/kernels/cuda_runtime_test.cpp: the device probe and the error machinery. These run
// without a GPU: the probe must report "no device" cleanly (cudaGetDeviceCount fails on a
// machine without a driver), the check macros must build informative CudaError messages,
// and launchers must reject bad arguments before touching the device.
#include <gtest/gtest.h>

#include <string>

#include "kernels/cuda_check.cuh"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/lstm_pointwise.h"
#include "kernels/runtime.h"
#include "tests/kernels/cuda_test_util.h"

namespace melodl {
namespace {

TEST(CudaRuntime, ProbeIsConsistent) {
  // Either a usable device and no reason, or no device and a reason that says why.
  const bool ok = cuda::available();
  const std::string why = cuda::unavailable_reason();
  EXPECT_EQ(ok, why.empty()) << why;
  EXPECT_EQ(ok, cuda::available());  // cached, stable
  if (!ok) std::printf("CUDA unavailable: %s\n", why.c_str());
}

TEST(CudaRuntime, CheckMacroNamesCallErrorAndLocation) {
  try {
    MELODL_CUDA_CHECK(cudaErrorInvalidValue);
    FAIL() << "no exception";
  } catch (const cuda::CudaError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cudaErrorInvalidValue"), std::string::npos) << m;
    EXPECT_NE(m.find("cuda_runtime_test.cpp:"), std::string::npos) << m;
    EXPECT_NE(m.find("invalid argument"), std::string::npos) << m;  // cudaGetErrorString
  }
  try {
    MELODL_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE);
    FAIL() << "no exception";
  } catch (const cuda::CudaError& e) {
    EXPECT_NE(std::string(e.what()).find("CUBLAS_STATUS_INVALID_VALUE"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(MELODL_CUDA_CHECK(cudaSuccess));
}

TEST(CudaRuntime, CudaErrorIsARuntimeError) {
  EXPECT_THROW(MELODL_CUDA_CHECK(cudaErrorMemoryAllocation), std::runtime_error);
}

TEST(CudaRuntime, LaunchersValidateBeforeTouchingTheDevice) {
  PointwiseFwdArgs pw;
  pw.B = 2;
  pw.H = 3;  // all pointers null
  EXPECT_THROW(cuda::lstm_pointwise_fwd(pw, {}), cuda::InvalidArgument);
  pw.B = 0;  // empty input is a no-op, even without a device
  EXPECT_NO_THROW(cuda::lstm_pointwise_fwd(pw, {}));
  EXPECT_THROW(cuda::gemm({}, false, false, 2, 2, 2, 1.f, nullptr, 2, nullptr, 2, 0.f, nullptr, 2),
               cuda::InvalidArgument);  // no cuBLAS handle
  LayerFwdArgs la;
  EXPECT_THROW(cuda::lstm_layer_forward(la, {}), cuda::InvalidArgument);
}

TEST(CudaRuntime, WithoutDeviceAllocationThrowsCudaError) {
  if (cuda::available()) GTEST_SKIP() << "a device is present; this checks the no-device path";
  EXPECT_THROW(cuda::DeviceBuffer<float>(16), cuda::CudaError);
  EXPECT_NO_THROW(cuda::DeviceBuffer<float>(0));  // nothing to allocate
}

}  // namespace
}  // namespace melodl
