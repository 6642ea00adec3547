// tests/lstm/cuda_emulation.cpp: a host emulation of the CUDA runtime and cuBLAS calls that
// melodl's CUDA backend (lstm/cuda/backend.cpp) makes, and of the kernels/ launchers it
// calls, for lstm_cuda_emulated_test: tests/lstm/cuda_backend_test.cpp built against
// the melodl::lstm sources, the kernel references (kernels/*_ref.cpp) and this file instead
// of libcudart/libcublas/melodl_kernels, so it runs on any machine (label cpu).
//
// It checks the backend's orchestration, not the kernels (those are tested against the same
// references by tests/kernels, label cuda): every launcher runs its ref:: spec on the
// arguments; before that, every pointer argument must lie inside ONE emulated device
// allocation over the whole extent the shapes imply (so a host pointer passed to a kernel,
// a wrong offset or a too-small buffer throws, naming the launcher and the argument); copies
// check their direction (host vs device side); and cudaMalloc fills new memory with NaN bytes,
// so reading device memory that was never written poisons the results. Streams are
// synchronous here, so ordering bugs between streams cannot show up (there is one stream).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstring>
#include <map>
#include <string>

#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/lstm_pointwise.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "kernels/runtime.h"
#include "kernels/sample.h"
#include "kernels/softmax_xent.h"

namespace {

std::map<const char*, std::size_t>& allocations() {
  static std::map<const char*, std::size_t> a;
  return a;
}

// The allocation holding p, or end().
std::map<const char*, std::size_t>::iterator owner(const void* p) {
  auto& a = allocations();
  const char* c = static_cast<const char*>(p);
  auto it = a.upper_bound(c);
  if (it == a.begin()) return a.end();
  --it;
  return c < it->first + it->second ? it : a.end();
}

[[noreturn]] void fail(const std::string& what) {
  throw melodl::cuda::CudaError("[cuda emulation] " + what);
}

// [p, p + bytes) must lie inside one device allocation.
void dev(const void* p, std::size_t bytes, const char* where, const char* arg) {
  if (bytes == 0) return;
  if (p == nullptr) fail(std::string(where) + ": " + arg + " is null");
  const auto it = owner(p);
  if (it == allocations().end()) fail(std::string(where) + ": " + arg + " is not device memory");
  const std::size_t off = static_cast<std::size_t>(static_cast<const char*>(p) - it->first);
  if (off + bytes > it->second)
    fail(std::string(where) + ": " + arg + " needs " + std::to_string(bytes) + " bytes at offset " +
         std::to_string(off) + " of a " + std::to_string(it->second) + "-byte allocation");
}

void host(const void* p, const char* where, const char* arg) {
  if (owner(p) != allocations().end())
    fail(std::string(where) + ": " + arg + " is device memory, expected host memory");
}

constexpr std::size_t kF = sizeof(float);

template <class T>
std::size_t bytes(std::int64_t n) {
  return n > 0 ? static_cast<std::size_t>(n) * sizeof(T) : 0;
}

// Bytes a row-major [rows, cols] matrix with row stride ld spans.
std::size_t span(int rows, int cols, int ld) {
  if (rows <= 0 || cols <= 0) return 0;
  return (static_cast<std::size_t>(rows - 1) * ld + cols) * kF;
}

}  // namespace

// ---- CUDA runtime and cuBLAS entry points used by the backend ---------------------------

extern "C" {

cudaError_t cudaMalloc(void** p, size_t n) {
  char* q = new char[n > 0 ? n : 1];
  std::memset(q, 0xFF, n);  // 0xFFFFFFFF is a NaN: uninitialised reads poison results
  allocations()[q] = n > 0 ? n : 1;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  auto& a = allocations();
  const auto it = a.find(static_cast<const char*>(p));
  if (it == a.end()) fail("cudaFree of a pointer that cudaMalloc did not return");
  a.erase(it);
  delete[] static_cast<char*>(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind,
                            cudaStream_t) {
  if (n == 0) return cudaSuccess;
  switch (kind) {
    case cudaMemcpyHostToDevice:
      dev(dst, n, "cudaMemcpyAsync H2D", "dst");
      host(src, "cudaMemcpyAsync H2D", "src");
      break;
    case cudaMemcpyDeviceToHost:
      host(dst, "cudaMemcpyAsync D2H", "dst");
      dev(src, n, "cudaMemcpyAsync D2H", "src");
      break;
    case cudaMemcpyDeviceToDevice:
      dev(dst, n, "cudaMemcpyAsync D2D", "dst");
      dev(src, n, "cudaMemcpyAsync D2D", "src");
      break;
    default:
      fail("cudaMemcpyAsync: the backend must name the direction");
  }
  std::memmove(dst, src, n);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t) {
  dev(p, n, "cudaMemsetAsync", "devPtr");
  std::memset(p, value, n);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = reinterpret_cast<cudaStream_t>(new int(0));
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete reinterpret_cast<int*>(s);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) { return cudaSuccess; }
const char* cudaGetErrorName(cudaError_t) { return "cudaErrorEmulated"; }
const char* cudaGetErrorString(cudaError_t) { return "error in the CUDA emulation"; }

cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
  *h = reinterpret_cast<cublasHandle_t>(new int(0));
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
  delete reinterpret_cast<int*>(h);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }

}  // extern "C"

// ---- melodl::cuda launchers: argument checks of the real ones, extents, then the spec ------

namespace melodl::cuda {

bool available() { return true; }
std::string unavailable_reason() { return ""; }

void gemm(const ExecContext& ctx, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
          const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  constexpr const char* w = "cuda::gemm";
  require(M >= 0 && N >= 0 && K >= 0, w, "M, N, K must be >= 0");
  if (M == 0 || N == 0) return;
  require(ctx.blas != nullptr, w, "ExecContext.blas must be set");
  require(ldc >= N, w, "ldc must be >= N");
  require(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N), w,
          "lda/ldb smaller than the row length");
  dev(A, trans_a ? span(K, M, lda) : span(M, K, lda), w, "A");
  dev(B, trans_b ? span(N, K, ldb) : span(K, N, ldb), w, "B");
  dev(C, span(M, N, ldc), w, "C");
  ref::gemm<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gather_rows(const GatherArgs& a, const ExecContext&) {
  constexpr const char* w = "cuda::gather_rows";
  require(a.N >= 0 && a.I >= 0 && a.G >= 0, w, "sizes must be >= 0");
  if (a.N == 0 || a.G == 0) return;
  dev(a.sym, bytes<int32_t>(a.N), w, "sym");
  dev(a.W, bytes<float>(std::int64_t(a.I) * a.G), w, "W");
  if (a.b) dev(a.b, bytes<float>(a.G), w, "b");
  dev(a.out, bytes<float>(a.N * a.G), w, "out");
  ref::gather_rows(a);
}

void onehot_weight_grad(const OnehotGradArgs& a, const ExecContext&) {
  constexpr const char* w = "cuda::onehot_weight_grad";
  require(a.N >= 0 && a.I >= 0 && a.G >= 0, w, "sizes must be >= 0");
  if (a.I == 0 || a.G == 0) return;
  dev(a.sym, bytes<int32_t>(a.N), w, "sym");
  dev(a.dz, bytes<float>(a.N * a.G), w, "dz");
  dev(a.dW, bytes<float>(std::int64_t(a.I) * a.G), w, "dW");
  ref::onehot_weight_grad(a);
}

void column_sum(const float* x, int64_t N, int64_t M, float* out, bool accumulate,
                const ExecContext&) {
  constexpr const char* w = "cuda::column_sum";
  require(N >= 0 && M >= 0, w, "N and M must be >= 0");
  dev(x, bytes<float>(N * M), w, "x");
  dev(out, bytes<float>(M), w, "out");
  ref::column_sum(x, N, M, out, accumulate);
}

void sum(const float* x, int64_t n, bool squares, float* out, float* workspace,
         const ExecContext&) {
  constexpr const char* w = "cuda::sum";
  require(n >= 0, w, "n must be >= 0");
  dev(x, bytes<float>(n), w, "x");
  dev(out, kF, w, "out");
  dev(workspace, bytes<float>(kSumWorkspaceFloats), w, "workspace");
  *out = ref::sum(x, n, squares);
}

void softmax_xent(const SoftmaxXentArgs& a, const ExecContext& ctx) {
  constexpr const char* w = "cuda::softmax_xent";
  require(a.N >= 0 && a.V > 0, w, "N must be >= 0 and V > 0");
  require(a.loss_sum == nullptr || a.workspace != nullptr, w,
          "workspace is required when loss_sum is set");
  dev(a.logits, bytes<float>(a.N * a.V), w, "logits");
  dev(a.targets, bytes<int32_t>(a.N), w, "targets");
  if (a.weights) dev(a.weights, bytes<float>(a.N), w, "weights");
  dev(a.loss_rows, bytes<float>(a.N), w, "loss_rows");
  if (a.dlogits) dev(a.dlogits, bytes<float>(a.N * a.V), w, "dlogits");
  if (a.loss_sum) {
    dev(a.loss_sum, kF, w, "loss_sum");
    dev(a.workspace, bytes<float>(kSumWorkspaceFloats), w, "workspace");
  }
  SoftmaxXentArgs r = a;
  r.loss_sum = nullptr;
  ref::softmax_xent(r);
  if (a.loss_sum) sum(a.loss_rows, a.N, false, a.loss_sum, a.workspace, ctx);
}

void optim_step(const OptimArgs& a, const ExecContext&) {
  constexpr const char* w = "cuda::optim_step";
  validate(a, w);
  const bool need_norm = a.clip_norm > 0.f || a.norm_out != nullptr;
  require(!need_norm || a.workspace != nullptr, w,
          "workspace is required for clipping or norm_out");
  dev(a.w, bytes<float>(a.n), w, "w");
  dev(a.g, bytes<float>(a.n), w, "g");
  if (a.m) dev(a.m, bytes<float>(a.n), w, "m");
  if (a.v) dev(a.v, bytes<float>(a.n), w, "v");
  if (a.l2_mask) dev(a.l2_mask, bytes<uint8_t>(a.n), w, "l2_mask");
  if (a.norm_out) dev(a.norm_out, kF, w, "norm_out");
  if (need_norm) dev(a.workspace, bytes<float>(kSumWorkspaceFloats + 1), w, "workspace");
  ref::optim_step(a);
}

namespace {
// Extents of a layer forward's arguments, then its spec.
void forward_checked(const LayerFwdArgs& a, const char* w) {
  const std::int64_t N = std::int64_t(a.T) * a.B, BH = std::int64_t(a.B) * a.H, G = 4 * a.H;
  if (a.symbols) dev(a.symbols, bytes<int32_t>(N), w, "symbols");
  if (a.x) dev(a.x, bytes<float>(N * a.I), w, "x");
  dev(a.W, bytes<float>(a.I * G), w, "W");
  dev(a.R, bytes<float>(a.H * G), w, "R");
  dev(a.b, bytes<float>(G), w, "b");
  if (a.peephole) dev(a.p, bytes<float>(3 * a.H), w, "p");
  dev(a.h0, bytes<float>(BH), w, "h0");
  dev(a.c0, bytes<float>(BH), w, "c0");
  dev(a.hs, bytes<float>(N * a.H), w, "hs");
  dev(a.cs, bytes<float>(N * a.H), w, "cs");
  dev(a.gates, bytes<float>(N * G), w, "gates");
  ref::lstm_layer_forward(a);
}
}  // namespace

void lstm_layer_forward(const LayerFwdArgs& a, const ExecContext& ctx) {
  constexpr const char* w = "cuda::lstm_layer_forward";
  validate_layer(a, w);
  require(a.b && a.hs && a.cs && a.gates, w, "b, hs, cs, gates must be non-null");
  require(ctx.blas != nullptr, w, "ExecContext.blas must be set");
  forward_checked(a, w);
}

void lstm_layer_backward(const LayerBwdArgs& a, const ExecContext& ctx) {
  constexpr const char* w = "cuda::lstm_layer_backward";
  validate_layer(a, w);
  require(a.hs && a.cs && a.gates && a.dhs && a.dW && a.dR && a.db && a.workspace, w,
          "hs, cs, gates, dhs, dW, dR, db, workspace must be non-null");
  require(!a.peephole || a.dp, w, "dp must be non-null when peephole is on");
  require(!(a.dx && a.symbols), w, "dx needs a dense input");
  require(ctx.blas != nullptr, w, "ExecContext.blas must be set");
  const std::int64_t N = std::int64_t(a.T) * a.B, BH = std::int64_t(a.B) * a.H, G = 4 * a.H;
  if (a.symbols) dev(a.symbols, bytes<int32_t>(N), w, "symbols");
  if (a.x) dev(a.x, bytes<float>(N * a.I), w, "x");
  dev(a.W, bytes<float>(a.I * G), w, "W");
  dev(a.R, bytes<float>(a.H * G), w, "R");
  if (a.peephole) dev(a.p, bytes<float>(3 * a.H), w, "p");
  dev(a.h0, bytes<float>(BH), w, "h0");
  dev(a.c0, bytes<float>(BH), w, "c0");
  dev(a.hs, bytes<float>(N * a.H), w, "hs");
  dev(a.cs, bytes<float>(N * a.H), w, "cs");
  dev(a.gates, bytes<float>(N * G), w, "gates");
  dev(a.dhs, bytes<float>(N * a.H), w, "dhs");
  if (a.dh_T) dev(a.dh_T, bytes<float>(BH), w, "dh_T");
  if (a.dc_T) dev(a.dc_T, bytes<float>(BH), w, "dc_T");
  dev(a.dW, bytes<float>(a.I * G), w, "dW");
  dev(a.dR, bytes<float>(a.H * G), w, "dR");
  dev(a.db, bytes<float>(G), w, "db");
  if (a.peephole) dev(a.dp, bytes<float>(3 * a.H), w, "dp");
  if (a.dx) dev(a.dx, bytes<float>(N * a.I), w, "dx");
  if (a.dh0) dev(a.dh0, bytes<float>(BH), w, "dh0");
  if (a.dc0) dev(a.dc0, bytes<float>(BH), w, "dc0");
  dev(a.workspace,
      bytes<float>(static_cast<std::int64_t>(lstm_layer_bwd_workspace_floats(a.T, a.B, a.H))), w,
      "workspace");
  ref::lstm_layer_backward(a);
}

// Not used by the backend; present so that a stray call fails loudly.
void lstm_pointwise_fwd(const PointwiseFwdArgs&, const ExecContext&) {
  fail("cuda::lstm_pointwise_fwd is not emulated");
}
void lstm_pointwise_bwd(const PointwiseBwdArgs&, const ExecContext&) {
  fail("cuda::lstm_pointwise_bwd is not emulated");
}

// Variant (b) produces variant (a)'s outputs: emulated by the same spec, with its own checks
// (the blas handle is only needed for a dense input). Every shape "fits" here; the count
// lets the emulated test see that the backend took this path.
int persistent_forward_calls = 0;
bool lstm_layer_forward_persistent_fits(int B, int H) {
  require(B >= 1 && H >= 1, "cuda::lstm_layer_forward_persistent_fits", "B, H must be >= 1");
  return true;
}
void lstm_layer_forward_persistent(const LayerFwdArgs& a, const ExecContext& ctx) {
  constexpr const char* w = "cuda::lstm_layer_forward_persistent";
  validate_layer(a, w);
  require(a.b && a.hs && a.cs && a.gates, w, "b, hs, cs, gates must be non-null");
  require(a.symbols || ctx.blas != nullptr, w, "ExecContext.blas must be set for a dense input");
  ++persistent_forward_calls;
  forward_checked(a, w);
}
void sample(const SampleArgs&, const ExecContext&) { fail("cuda::sample is not emulated"); }

}  // namespace melodl::cuda
