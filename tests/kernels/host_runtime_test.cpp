// tests/kernels/host_runtime_test.cpp: the host-side runtime logic of kernels/ that decides
// which CUDA runtime and cuBLAS calls a launch makes, run on any machine (label cpu): this
// file defines counting stubs of those entry points (no libcudart or libcublas is linked)
// and is compiled with MELODL_CUDA_SYNC_DEBUG.
//   - MELODL_CUDA_CHECK_LAUNCH(stream) (kernels/cuda_check.cuh) synchronises the launch
//     stream under MELODL_CUDA_SYNC_DEBUG, but never while the stream is being captured
//     into a CUDA graph (that would invalidate the capture), and never the whole device;
//   - the persistent kernels' launch planning (kernels/persistent_plan.cuh): device
//     attributes once per device, the dynamic shared-memory attribute raised once per kernel
//     and device to the device's maximum and never lowered, occupancy once per (kernel,
//     threads, shared memory, device), a repeated plan with no query but cudaGetDevice, and
//     concurrent first plans querying each fact once;
//   - detail::bind_blas (kernels/gemm.cu): cublasSetStream/cublasSetMathMode only when the
//     handle's stream or math mode changes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "kernels/cuda_check.cuh"
#include "kernels/persistent_plan.cuh"

#ifndef MELODL_CUDA_SYNC_DEBUG
#error "host_runtime_test.cpp must be compiled with MELODL_CUDA_SYNC_DEBUG"
#endif

namespace {

// ---- the stubbed runtime's state and call counts ----
struct Calls {
  std::atomic<int> get_device{0}, device_attr{0}, func_get_attr{0}, func_set_attr{0}, occupancy{0},
      stream_sync{0}, device_sync{0}, is_capturing{0};
  std::atomic<int> blas_set_stream{0}, blas_set_mode{0}, blas_get{0};
};
Calls calls;
int current_device = 0;
std::map<const void*, bool> capturing;  // stream -> being captured
std::mutex attr_mu;
std::vector<std::tuple<const void*, int, int>> attr_sets;  // (kernel, device, value)
constexpr int kSms = 132, kOptin = 232448, kStaticSmem = 16;

struct FakeBlas {
  cudaStream_t stream = nullptr;
  cublasMath_t mode = CUBLAS_DEFAULT_MATH;
};

}  // namespace

extern "C" {
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
const char* cudaGetErrorName(cudaError_t) { return "cudaErrorStub"; }
const char* cudaGetErrorString(cudaError_t) { return "stub"; }
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  ++calls.is_capturing;
  *status = capturing[s] ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (capturing[s]) ADD_FAILURE() << "cudaStreamSynchronize of a capturing stream";
  ++calls.stream_sync;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
  ++calls.device_sync;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* d) {
  ++calls.get_device;
  *d = current_device;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  ++calls.device_attr;
  switch (a) {
    case cudaDevAttrMultiProcessorCount:
      *v = kSms;
      break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *v = kOptin;
      break;
    case cudaDevAttrCooperativeLaunch:
      *v = 1;
      break;
    default:
      *v = 0;
  }
  return cudaSuccess;
}
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void*) {
  ++calls.func_get_attr;
  std::memset(attr, 0, sizeof(*attr));
  attr->sharedSizeBytes = kStaticSmem;
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* f, cudaFuncAttribute a, int value) {
  ++calls.func_set_attr;
  EXPECT_EQ(a, cudaFuncAttributeMaxDynamicSharedMemorySize);
  const std::lock_guard<std::mutex> lock(attr_mu);
  attr_sets.emplace_back(f, current_device, value);
  return cudaSuccess;
}
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, const void*, int, size_t smem) {
  ++calls.occupancy;
  *n = smem <= 100000 ? 2 : 1;
  return cudaSuccess;
}
cublasStatus_t cublasGetStream_v2(cublasHandle_t h, cudaStream_t* s) {
  ++calls.blas_get;
  *s = reinterpret_cast<FakeBlas*>(h)->stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
  ++calls.blas_set_stream;
  reinterpret_cast<FakeBlas*>(h)->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t* m) {
  ++calls.blas_get;
  *m = reinterpret_cast<FakeBlas*>(h)->mode;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
  ++calls.blas_set_mode;
  reinterpret_cast<FakeBlas*>(h)->mode = m;
  return CUBLAS_STATUS_SUCCESS;
}
}  // extern "C"

namespace melodl::cuda {
namespace {

cudaStream_t fake_stream(int k) { return reinterpret_cast<cudaStream_t>(0x1000 + 0x100 * k); }

// ---- defect: MELODL_CUDA_SYNC_DEBUG inside a stream capture ----
TEST(SyncDebugLaunchCheck, SynchronisesTheLaunchStreamOnlyWhenItIsNotCapturing) {
  const cudaStream_t s = fake_stream(1);
  capturing[s] = false;
  const int sync0 = calls.stream_sync;
  MELODL_CUDA_CHECK_LAUNCH(s);
  EXPECT_EQ(calls.stream_sync - sync0, 1) << "eager launch: the stream is synchronised";
  capturing[s] = true;  // between cudaStreamBeginCapture and cudaStreamEndCapture
  MELODL_CUDA_CHECK_LAUNCH(s);
  EXPECT_EQ(calls.stream_sync - sync0, 1) << "a capturing stream must not be synchronised";
  capturing[s] = false;
  MELODL_CUDA_CHECK_LAUNCH();  // no stream: the launch error only
  EXPECT_EQ(calls.stream_sync - sync0, 1);
  EXPECT_EQ(calls.device_sync, 0) << "cudaDeviceSynchronize would also hit other captures";
}

// ---- defect: per-launch device queries and attribute changes of the persistent kernels ----
struct Plan {
  int U = 0, P = 0;
  std::size_t smem = 0;
  std::string why_not;
};
// Stand-ins for kernel entry points: only their addresses are used.
char kernel_a_tag, kernel_b_tag;

// The plan of a persistent kernel as kernels/lstm_layer_persistent.cu makes it (fp32
// storage, 128 threads): cached per (device, B, H) over the cached device limits and
// occupancy.
Plan plan(const void* kernel, int B, int H) {
  static detail::PlanCache<std::tuple<const void*, int, int, int>, Plan> cache;
  int dev = 0;
  MELODL_CUDA_CHECK(cudaGetDevice(&dev));
  return cache.get({kernel, dev, B, H}, [&] {
    Plan pl;
    const detail::DeviceLimits d = detail::device_limits();
    pl.U = (H + d.sms - 1) / d.sms;
    pl.P = (H + pl.U - 1) / pl.U;
    pl.smem = 4 * (static_cast<std::size_t>(H) * 4 * pl.U + static_cast<std::size_t>(B) * H);
    if (pl.smem > static_cast<std::size_t>(d.smem_optin)) {
      pl.why_not = "shared memory";
      return pl;
    }
    if (detail::blocks_per_sm(kernel, d, 128, pl.smem) * d.sms < pl.P) pl.why_not = "co-residency";
    return pl;
  });
}

struct Snapshot {
  int get_device, device_attr, func_get_attr, func_set_attr, occupancy;
};
Snapshot snap() {
  return {calls.get_device, calls.device_attr, calls.func_get_attr, calls.func_set_attr,
          calls.occupancy};
}

TEST(PersistentPlan, RepeatedLaunchOfOneShapeQueriesNothingButTheDevice) {
  const void* k = static_cast<const void*>(&kernel_a_tag);
  const Snapshot s0 = snap();
  const Plan big = plan(k, 64, 512);  // 163840 bytes
  const Snapshot s1 = snap();
  EXPECT_EQ(big.why_not, "");
  EXPECT_EQ(s1.device_attr - s0.device_attr, 3) << "SMs, opt-in shared memory, cooperative";
  EXPECT_EQ(s1.func_set_attr - s0.func_set_attr, 1);
  EXPECT_EQ(s1.occupancy - s0.occupancy, 1);
  for (int rep = 0; rep < 5; ++rep) {
    const Plan again = plan(k, 64, 512);
    EXPECT_EQ(again.smem, big.smem);
  }
  const Snapshot s2 = snap();
  EXPECT_EQ(s2.device_attr, s1.device_attr);
  EXPECT_EQ(s2.func_get_attr, s1.func_get_attr);
  EXPECT_EQ(s2.func_set_attr, s1.func_set_attr);
  EXPECT_EQ(s2.occupancy, s1.occupancy);
  EXPECT_EQ(s2.get_device - s1.get_device, 5) << "one cudaGetDevice per plan lookup, no more";

  // A smaller shape: its own occupancy query, the device attributes and the kernel's
  // attribute untouched (the attribute is never lowered, so the larger shape's launches,
  // and graphs captured with them, stay valid); then the larger shape again: nothing.
  const Plan small = plan(k, 32, 200);
  EXPECT_EQ(small.smem, 32000u);
  const Snapshot s3 = snap();
  EXPECT_EQ(s3.device_attr, s2.device_attr);
  EXPECT_EQ(s3.func_set_attr, s2.func_set_attr);
  EXPECT_EQ(s3.occupancy - s2.occupancy, 1);
  plan(k, 64, 512);
  plan(k, 32, 200);
  EXPECT_EQ(snap().occupancy, s3.occupancy);
  EXPECT_EQ(snap().func_set_attr, s3.func_set_attr);

  // The attribute was set once, to all the device allows the kernel.
  int sets = 0;
  for (const auto& [f, dev, value] : attr_sets)
    if (f == k) {
      ++sets;
      EXPECT_EQ(value, kOptin - kStaticSmem);
    }
  EXPECT_EQ(sets, 1);
  // A shape that does not fit is planned (and answered) once too, without occupancy.
  EXPECT_EQ(plan(k, 64, 1024).why_not, "shared memory");
  EXPECT_EQ(plan(k, 64, 1024).why_not, "shared memory");
  EXPECT_EQ(snap().occupancy, s3.occupancy);
}

TEST(PersistentPlan, OncePerDeviceAndThreadSafe) {
  const void* k = static_cast<const void*>(&kernel_b_tag);
  detail::device_limits();  // device 0's limits cached (whichever test ran first)
  const Snapshot s0 = snap();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) plan(k, 8 + (t + rep) % 4, 100 + 33 * ((t * rep) % 3));
    });
  for (auto& th : threads) th.join();
  const Snapshot s1 = snap();
  EXPECT_EQ(s1.device_attr, s0.device_attr) << "device 0's limits were queried once, before";
  EXPECT_EQ(s1.func_set_attr - s0.func_set_attr, 1) << "one attribute change for kernel_b";
  EXPECT_EQ(s1.occupancy - s0.occupancy, 4 * 3) << "one occupancy query per shape";
  // Another device: its limits and the kernel's attribute once more (both are per device).
  current_device = 1;
  plan(k, 8, 100);
  plan(k, 8, 100);
  current_device = 0;
  const Snapshot s2 = snap();
  EXPECT_EQ(s2.device_attr - s1.device_attr, 3);
  EXPECT_EQ(s2.func_set_attr - s1.func_set_attr, 1);
  EXPECT_EQ(s2.occupancy - s1.occupancy, 1);
}

// ---- per-GEMM cublasSetStream + cublasSetMathMode ----
TEST(BindBlas, SetsStreamAndMathModeOnlyWhenTheyChange) {
  FakeBlas fake;
  const auto h = reinterpret_cast<cublasHandle_t>(&fake);
  const cudaStream_t s1 = fake_stream(2), s2 = fake_stream(3);
  const int st0 = calls.blas_set_stream, md0 = calls.blas_set_mode;
  detail::bind_blas(h, s1, CUBLAS_TF32_TENSOR_OP_MATH);
  EXPECT_EQ(calls.blas_set_stream - st0, 1);
  EXPECT_EQ(calls.blas_set_mode - md0, 1);
  for (int k = 0; k < 10; ++k) detail::bind_blas(h, s1, CUBLAS_TF32_TENSOR_OP_MATH);
  EXPECT_EQ(calls.blas_set_stream - st0, 1) << "same stream: no cublasSetStream";
  EXPECT_EQ(calls.blas_set_mode - md0, 1) << "same mode: no cublasSetMathMode";
  detail::bind_blas(h, s1, CUBLAS_PEDANTIC_MATH);
  EXPECT_EQ(calls.blas_set_stream - st0, 1);
  EXPECT_EQ(calls.blas_set_mode - md0, 2);
  detail::bind_blas(h, s2, CUBLAS_PEDANTIC_MATH);
  EXPECT_EQ(calls.blas_set_stream - st0, 2);
  EXPECT_EQ(calls.blas_set_mode - md0, 2);
  EXPECT_EQ(fake.stream, s2);
  EXPECT_EQ(fake.mode, CUBLAS_PEDANTIC_MATH);
  // A new handle (possibly at a recycled address) starts from its own defaults: read back.
  fake = FakeBlas{};
  detail::bind_blas(h, s2, CUBLAS_PEDANTIC_MATH);
  EXPECT_EQ(fake.stream, s2);
  EXPECT_EQ(fake.mode, CUBLAS_PEDANTIC_MATH);
}

}  // namespace
}  // namespace melodl::cuda
