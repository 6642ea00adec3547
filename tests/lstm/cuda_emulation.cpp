// tests/lstm/cuda_emulation.cpp: a host emulation of the CUDA runtime and cuBLAS calls that
// melodl's CUDA backend (lstm/cuda/*.cpp) makes, and of the kernels/ launchers it
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
// synchronous here, so ordering bugs between streams cannot show up.
//
// CUDA Graphs (stream capture) are emulated as CUDA defines them: between
// cudaStreamBeginCapture and cudaStreamEndCapture, work enqueued on a capturing stream is
// recorded, not run; a stream joins the capture by waiting on an event recorded on a
// capturing stream, and must be joined back before the capture ends (else
// cudaErrorStreamCaptureUnjoined); work on a stream outside the capture runs at once (as on a
// GPU, which is the bug this catches: results read before they exist); cudaMalloc and copies
// to or from host memory are refused while capturing (allocations and host staging belong
// before the capture); cudaGraphLaunch replays the recorded work, re-checking every pointer,
// so a graph that outlives a buffer it captured fails by name (freed allocations are
// forgotten). Pinned host memory (cudaMallocHost) counts as host memory.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kernels/bf16.h"
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
int graph_launches = 0;               // cudaGraphLaunch calls (read by the emulated tests)
bool emulated_schedule_late = false;  // the scheduler's order (see below; set by tests)
int sample_calls = 0;                 // cuda::sample launches
int device_mallocs = 0;               // cudaMalloc calls
}  // namespace melodl::cuda

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

// ---- streams, events, capture and the adversarial scheduler ----
// Work is not run when it is enqueued: every operation becomes a node of a dependency graph
// (the previous node of its stream, plus the event a cudaStreamWaitEvent names), and runs
// when the host synchronises (stream or event synchronisation, cudaFree, cudaFreeHost),
// in an order chosen to break missing dependencies: with Schedule::kEarly the ready node of
// the most recently created stream runs first (a side stream runs ahead of work it forgot
// to wait for), with kLate the default and oldest streams run first (a side stream runs
// after work that overwrote its inputs). Host memory is read when a copy runs, so a host
// buffer released before the synchronisation shows up too.
struct Node {
  std::function<void()> work;  // empty: a barrier (event wait, graph end)
  std::vector<long> deps;      // ids of nodes that must run first
  int rank = 0;                // creation rank of its stream
};
struct EmuStream {
  int rank = 0;
  bool capturing = false;
  long last = -1;            // last eager node on this stream
  long cap_last = -1;        // last captured node (index into the capture) while capturing
  long ops = 0, joined = 0;  // captured ops, and how many the origin has waited for
};
struct EmuEvent {
  EmuStream* stream = nullptr;
  bool captured = false;
  long node = -1;  // the recording stream's last node (eager id or capture index)
  long ops = 0;
};
struct Capture {
  bool active = false;
  EmuStream* origin = nullptr;
  std::vector<Node> nodes;  // deps are indices into nodes
};
struct Scheduler {
  std::map<long, Node> pending;  // eager nodes not yet run, by id
  std::set<long> done_ids;       // ids run (only ids still referenced matter; kept simple)
  long next = 0;
  bool executing = false;
};
Capture& capture() {
  static Capture c;
  return c;
}
Scheduler& sched() {
  static Scheduler s;
  return s;
}
std::set<EmuStream*>& streams() {
  static std::set<EmuStream*> s;
  return s;
}
int& stream_ranks() {
  static int r = 0;
  return r;
}
EmuStream& default_stream() {
  static EmuStream s;
  return s;
}
EmuStream* stream_of(cudaStream_t s) {
  if (s == nullptr) return &default_stream();
  auto* e = reinterpret_cast<EmuStream*>(s);
  if (!streams().count(e)) fail("a stream that cudaStreamCreateWithFlags did not return");
  return e;
}

// Adds a node on stream st (captured or pending) with extra dependency `extra` (an eager id
// or a capture index, matching the stream's mode; -1 = none).
void add_node(EmuStream* st, std::function<void()> work, long extra = -1) {
  Node n;
  n.work = std::move(work);
  n.rank = st->rank;
  if (st->capturing) {
    auto& c = capture();
    if (st->cap_last >= 0) n.deps.push_back(st->cap_last);
    if (extra >= 0) n.deps.push_back(extra);
    c.nodes.push_back(std::move(n));
    st->cap_last = static_cast<long>(c.nodes.size()) - 1;
    ++st->ops;
  } else {
    auto& sc = sched();
    if (st->last >= 0) n.deps.push_back(st->last);
    if (extra >= 0) n.deps.push_back(extra);
    const long id = sc.next++;
    sc.pending.emplace(id, std::move(n));
    st->last = id;
  }
}

// Runs every pending node, in the adversarial order the schedule asks for.
void flush() {
  auto& sc = sched();
  if (sc.executing) return;
  sc.executing = true;
  while (!sc.pending.empty()) {
    long pick = -1;
    int best = 0;
    for (const auto& [id, n] : sc.pending) {
      bool ready = true;
      for (long d : n.deps)
        if (sc.pending.count(d)) {
          ready = false;
          break;
        }
      if (!ready) continue;
      const int key = melodl::cuda::emulated_schedule_late ? -n.rank : n.rank;
      if (pick < 0 || key > best) {
        pick = id;
        best = key;
      }
    }
    if (pick < 0) {
      sc.executing = false;
      fail("dependency cycle in the emulated streams");
    }
    Node n = std::move(sc.pending.at(pick));
    sc.pending.erase(pick);
    try {
      if (n.work) n.work();
    } catch (...) {
      sc.pending.clear();
      sc.executing = false;
      throw;
    }
  }
  sc.executing = false;
}

// Enqueues `work` on stream s and returns true, or returns false while the scheduler runs a
// node (then the caller does the work inline: it IS the node's work).
bool enqueued(cudaStream_t s, std::function<void()> work) {
  if (sched().executing) return false;
  add_node(stream_of(s), std::move(work));
  return true;
}
void not_capturing(const char* what) {
  if (capture().active)
    fail(std::string(what) + " while a stream capture is active (do it before the capture)");
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
  not_capturing("cudaMalloc");
  ++melodl::cuda::device_mallocs;
  char* q = new char[n > 0 ? n : 1];
  std::memset(q, 0xFF, n);  // 0xFFFFFFFF is a NaN: uninitialised reads poison results
  allocations()[q] = n > 0 ? n : 1;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  not_capturing("cudaFree");
  flush();  // as on a GPU: cudaFree waits for the device
  auto& a = allocations();
  const auto it = a.find(static_cast<const char*>(p));
  if (it == a.end()) fail("cudaFree of a pointer that cudaMalloc did not return");
  a.erase(it);
  // The memory is kept (never reused), so a graph replaying work on a freed buffer fails the
  // extent check instead of writing into a newer allocation at the same address.
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind,
                            cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (kind != cudaMemcpyDeviceToDevice && stream_of(s)->capturing)
    fail("cudaMemcpyAsync to or from host memory inside a stream capture (stage it outside)");
  if (enqueued(s, [=] { cudaMemcpyAsync(dst, src, n, kind, nullptr); })) return cudaSuccess;
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

cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t s) {
  if (enqueued(s, [=] { cudaMemsetAsync(p, value, n, nullptr); })) return cudaSuccess;
  dev(p, n, "cudaMemsetAsync", "devPtr");
  std::memset(p, value, n);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  auto* e = new EmuStream;
  e->rank = ++stream_ranks();
  streams().insert(e);
  *s = reinterpret_cast<cudaStream_t>(e);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  EmuStream* e = stream_of(s);
  if (e->capturing) fail("cudaStreamDestroy of a capturing stream");
  flush();
  streams().erase(e);
  delete e;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (stream_of(s)->capturing) fail("cudaStreamSynchronize of a capturing stream");
  flush();
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t n) {
  not_capturing("cudaMallocHost");
  *p = new char[n > 0 ? n : 1];
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  flush();  // as on a GPU: freeing pinned memory waits for the device
  delete[] static_cast<char*>(p);
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  *e = reinterpret_cast<cudaEvent_t>(new EmuEvent);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<EmuEvent*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  auto* ev = reinterpret_cast<EmuEvent*>(e);
  EmuStream* st = stream_of(s);
  ev->stream = st;
  ev->captured = st->capturing;
  ev->node = st->capturing ? st->cap_last : st->last;
  ev->ops = st->ops;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  auto* ev = reinterpret_cast<EmuEvent*>(e);
  if (ev->captured) fail("cudaEventSynchronize on an event recorded inside a capture");
  flush();
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  auto* ev = reinterpret_cast<EmuEvent*>(e);
  EmuStream* st = stream_of(s);
  if (ev->stream == nullptr) return cudaSuccess;  // never recorded: no dependency
  if (ev->captured) {
    if (!ev->stream->capturing || !capture().active)
      fail("cudaStreamWaitEvent on an event captured by a capture that has ended");
    if (!st->capturing) {  // fork: the waiting stream joins the capture
      st->capturing = true;
      st->cap_last = -1;
      st->ops = st->joined = 0;
    }
    if (st == capture().origin) ev->stream->joined = std::max(ev->stream->joined, ev->ops);
  } else if (st->capturing) {
    fail("cudaStreamWaitEvent: a capturing stream waits on an event recorded outside the capture");
  }
  add_node(st, {}, ev->node);    // a barrier: later work on st waits for the event's node
  if (st->capturing) --st->ops;  // a wait is not work that needs joining
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  auto& c = capture();
  if (c.active) fail("cudaStreamBeginCapture while another capture is active");
  EmuStream* st = stream_of(s);
  c = Capture{};
  c.active = true;
  c.origin = st;
  st->capturing = true;
  st->cap_last = -1;
  st->ops = st->joined = 0;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  auto& c = capture();
  EmuStream* st = stream_of(s);
  if (!c.active || st != c.origin) fail("cudaStreamEndCapture on a stream that did not begin it");
  bool unjoined = false;
  for (EmuStream* o : streams())
    if (o != st && o->capturing && o->ops > o->joined) unjoined = true;
  for (EmuStream* o : streams()) o->capturing = false;
  default_stream().capturing = false;
  auto* g = new std::vector<Node>(std::move(c.nodes));
  c = Capture{};
  if (unjoined) {  // the capture is over either way, as on a GPU
    delete g;
    fail(
        "cudaStreamEndCapture: cudaErrorStreamCaptureUnjoined (a forked stream's work was "
        "not joined back into the origin stream)");
  }
  *graph = reinterpret_cast<cudaGraph_t>(g);
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  *status = stream_of(s)->capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  not_capturing("cudaGraphInstantiate");
  *exec = reinterpret_cast<cudaGraphExec_t>(
      new std::vector<Node>(*reinterpret_cast<std::vector<Node>*>(graph)));
  return cudaSuccess;
}
// Launch: the graph's nodes join the pending work (each keeps its captured dependencies and
// its stream's rank; roots wait for the launching stream); the stream then waits for all.
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  EmuStream* st = stream_of(s);
  if (st->capturing) fail("cudaGraphLaunch inside a capture is not emulated");
  ++melodl::cuda::graph_launches;
  const auto& nodes = *reinterpret_cast<std::vector<Node>*>(exec);
  auto& sc = sched();
  const long base = sc.next;
  sc.next += static_cast<long>(nodes.size());
  Node end;
  end.rank = st->rank;
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    Node n = nodes[k];
    for (long& d : n.deps) d += base;
    if (st->last >= 0) n.deps.push_back(st->last);
    sc.pending.emplace(base + static_cast<long>(k), std::move(n));
    end.deps.push_back(base + static_cast<long>(k));
  }
  const long id = sc.next++;
  sc.pending.emplace(id, std::move(end));
  st->last = id;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete reinterpret_cast<std::vector<Node>*>(exec);
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete reinterpret_cast<std::vector<Node>*>(graph);
  return cudaSuccess;
}
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

namespace {
// The context a recorded launch replays on: the default stream (not capturing).
ExecContext now(const ExecContext& c) { return ExecContext{nullptr, c.blas, c.math}; }
}  // namespace
std::string unavailable_reason() { return ""; }

void gemm(const ExecContext& ctx, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
          const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (enqueued(ctx.stream, [=] {
        gemm(now(ctx), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      }))
    return;
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
  if (ctx.math == GemmMath::kBf16)  // the bf16 spec: operands rounded, fp32 sums
    ref::gemm_bf16<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    ref::gemm<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gather_rows(const GatherArgs& a, const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { gather_rows(a, now(ctx)); })) return;
  constexpr const char* w = "cuda::gather_rows";
  require(a.N >= 0 && a.I >= 0 && a.G >= 0, w, "sizes must be >= 0");
  if (a.N == 0 || a.G == 0) return;
  dev(a.sym, bytes<int32_t>(a.N), w, "sym");
  dev(a.W, bytes<float>(std::int64_t(a.I) * a.G), w, "W");
  if (a.b) dev(a.b, bytes<float>(a.G), w, "b");
  dev(a.out, bytes<float>(a.N * a.G), w, "out");
  ref::gather_rows(a);
}

void onehot_weight_grad(const OnehotGradArgs& a, const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { onehot_weight_grad(a, now(ctx)); })) return;
  constexpr const char* w = "cuda::onehot_weight_grad";
  require(a.N >= 0 && a.I >= 0 && a.G >= 0, w, "sizes must be >= 0");
  if (a.I == 0 || a.G == 0) return;
  dev(a.sym, bytes<int32_t>(a.N), w, "sym");
  dev(a.dz, bytes<float>(a.N * a.G), w, "dz");
  dev(a.dW, bytes<float>(std::int64_t(a.I) * a.G), w, "dW");
  ref::onehot_weight_grad(a);
}

void column_sum(const float* x, int64_t N, int64_t M, float* out, bool accumulate,
                const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { column_sum(x, N, M, out, accumulate, now(ctx)); })) return;
  constexpr const char* w = "cuda::column_sum";
  require(N >= 0 && M >= 0, w, "N and M must be >= 0");
  dev(x, bytes<float>(N * M), w, "x");
  dev(out, bytes<float>(M), w, "out");
  ref::column_sum(x, N, M, out, accumulate);
}

void sum(const float* x, int64_t n, bool squares, float* out, float* workspace,
         const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { sum(x, n, squares, out, workspace, now(ctx)); })) return;
  constexpr const char* w = "cuda::sum";
  require(n >= 0, w, "n must be >= 0");
  dev(x, bytes<float>(n), w, "x");
  dev(out, kF, w, "out");
  dev(workspace, bytes<float>(kSumWorkspaceFloats), w, "workspace");
  *out = ref::sum(x, n, squares);
}

void softmax_xent(const SoftmaxXentArgs& a, const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { softmax_xent(a, now(ctx)); })) return;
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

void optim_step(const OptimArgs& a, const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { optim_step(a, now(ctx)); })) return;
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
void forward_checked(const LayerFwdArgs& a, const char* w, bool bf16 = false) {
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
  if (bf16)
    ref::lstm_layer_forward_bf16(a);
  else
    ref::lstm_layer_forward(a);
}
}  // namespace

void lstm_layer_forward(const LayerFwdArgs& a, const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { lstm_layer_forward(a, now(ctx)); })) return;
  constexpr const char* w = "cuda::lstm_layer_forward";
  validate_layer(a, w);
  require(a.b && a.hs && a.cs && a.gates, w, "b, hs, cs, gates must be non-null");
  require(ctx.blas != nullptr, w, "ExecContext.blas must be set");
  forward_checked(a, w, ctx.math == GemmMath::kBf16);
}

namespace {
void backward_checked(const LayerBwdArgs& a, const ExecContext& ctx, const char* w);
}  // namespace

void lstm_layer_backward(const LayerBwdArgs& a, const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { lstm_layer_backward(a, now(ctx)); })) return;
  backward_checked(a, ctx, "cuda::lstm_layer_backward");
}

// Variant (b)'s backward has variant (a)'s contract: the same checks and spec; counted.
int persistent_backward_calls = 0;
bool lstm_layer_backward_persistent_fits(int B, int H, int) {
  require(B >= 1 && H >= 1, "cuda::lstm_layer_backward_persistent_fits", "B, H must be >= 1");
  return true;
}
void lstm_layer_backward_persistent(const LayerBwdArgs& a, const ExecContext& ctx, int) {
  if (enqueued(ctx.stream, [=] { lstm_layer_backward_persistent(a, now(ctx), 0); })) return;
  ++persistent_backward_calls;
  backward_checked(a, ctx, "cuda::lstm_layer_backward_persistent");
}

namespace {
void backward_checked(const LayerBwdArgs& a, const ExecContext& ctx, const char* w) {
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
  if (ctx.math == GemmMath::kBf16)
    ref::lstm_layer_backward_bf16(a);
  else
    ref::lstm_layer_backward(a);
}
}  // namespace

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
bool lstm_layer_forward_persistent_fits(int B, int H, GemmMath) {
  return lstm_layer_forward_persistent_fits(B, H);
}
void lstm_layer_forward_persistent(const LayerFwdArgs& a, const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { lstm_layer_forward_persistent(a, now(ctx)); })) return;
  constexpr const char* w = "cuda::lstm_layer_forward_persistent";
  validate_layer(a, w);
  require(a.b && a.hs && a.cs && a.gates, w, "b, hs, cs, gates must be non-null");
  require(a.symbols || ctx.blas != nullptr, w, "ExecContext.blas must be set for a dense input");
  ++persistent_forward_calls;
  forward_checked(a, w, ctx.math == GemmMath::kBf16);
}
void sample(const SampleArgs& a, const ExecContext& ctx) {
  if (enqueued(ctx.stream, [=] { sample(a, now(ctx)); })) return;
  constexpr const char* w = "cuda::sample";
  validate(a, w);
  ++sample_calls;
  if (a.B == 0) return;
  dev(a.logits, bytes<float>(std::int64_t(a.B) * a.V), w, "logits");
  dev(a.u, bytes<float>(a.B), w, "u");
  dev(a.out, bytes<int32_t>(a.B), w, "out");
  ref::sample(a);
}

}  // namespace melodl::cuda
