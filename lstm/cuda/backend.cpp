// lstm/cuda/backend.cpp: the CUDA backend of melodl::lstm (interface: lstm/cuda/backend.h),
// host code on the launchers of kernels/ (variant (a) layers: cuBLAS GEMM + fused pointwise;
// one-hot input as a row gather; fused softmax + cross-entropy; fused optimiser step;
// deterministic reductions). Compiled by the host compiler; kernels/ holds all device code.
//
// Per segment (T steps, B streams, N = T*B rows), on one stream:
//   upload inputs, targets (and mask) [T,B];
//   per layer l: lstm_layer_forward (or, with ExecutionOptions::cuda_persistent and where the shape
//   fits, lstm_layer_forward_persistent) from the slot's state -> hs[l], cs[l], gates[l];
//   logits [N,V] = broadcast(by) (a gather of row 0 with all-zero indices: an exact copy)
//                  + hs[top] Wy (cuBLAS);
//   softmax_xent (weights = mask): loss sum -> scalar kLoss, dlogits in place;
//   backward window rows [t0*B, N) (t0 = T - bwd): dWy = hs_top^T dlogits, dby = column sum,
//   dH_top = dlogits Wy^T; per layer top-down lstm_layer_backward over the window with
//   h0/c0 = the state entering the window (held constant: truncated BPTT), dx -> dH[l-1];
//   final state hs[l][T-1], cs[l][T-1] -> the slot (after backward, which reads the old one).
// Errors of the kernels layer (melodl::cuda::CudaError / InvalidArgument) are rethrown as
// melodl::lstm::Error / InvalidArgument with the operation's name in front.
#include "lstm/cuda/backend.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <tuple>
#include <utility>

#include "kernels/cuda_check.cuh"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "kernels/runtime.h"
#include "kernels/sample.h"
#include "kernels/softmax_xent.h"

namespace melodl::lstm::cudabk {

namespace {

template <class T>
using Buf = cuda::DeviceBuffer<T>;

// Bumped by every device (re)allocation of a workspace: a captured CUDA graph is only valid
// while the buffers it captured live, so graphs remember the generation they were captured at.
std::atomic<std::uint64_t> g_alloc_generation{0};

// Grow-only (re)allocation; contents are undefined after a reallocation.
template <class T>
void ensure(Buf<T>& b, std::size_t n) {
  if (b.size() < n) {
    b = Buf<T>(n);
    g_alloc_generation.fetch_add(1, std::memory_order_relaxed);
  }
}

// Owners of a CUDA event, graph and graph executable (destructors never throw).
struct Event {
  cudaEvent_t e = nullptr;
  Event() { MELODL_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    if (e) cudaEventDestroy(e);
  }
};
struct GraphExec {
  cudaGraphExec_t exec = nullptr;
  std::uint64_t generation = 0;
  GraphExec() = default;
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  ~GraphExec() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

// Pinned host staging buffer (page-locked: truly asynchronous uploads). Reused only after
// the copies out of it finished (done_ is recorded after them).
class Staging {
 public:
  Staging() = default;
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {
    if (p_) cudaFreeHost(p_);
  }
  // Host memory for `bytes`, free to overwrite (waits for earlier uploads from it).
  char* get(std::size_t bytes) {
    if (in_flight_) MELODL_CUDA_CHECK(cudaEventSynchronize(done_.e));
    in_flight_ = false;
    if (bytes > n_) {
      if (p_) MELODL_CUDA_CHECK(cudaFreeHost(p_));
      p_ = nullptr;
      n_ = 0;
      void* q = nullptr;
      MELODL_CUDA_CHECK(cudaMallocHost(&q, bytes));
      p_ = static_cast<char*>(q);
      n_ = bytes;
    }
    return p_;
  }
  // Marks the end of the uploads enqueued on s from the buffer.
  void uploaded(cudaStream_t s) {
    MELODL_CUDA_CHECK(cudaEventRecord(done_.e, s));
    in_flight_ = true;
  }

 private:
  char* p_ = nullptr;
  std::size_t n_ = 0;
  Event done_;
  bool in_flight_ = false;
};

template <class F>
auto guarded(const char* where, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const cuda::InvalidArgument& e) {
    throw InvalidArgument(std::string("[") + where + "] " + e.what());
  } catch (const cuda::CudaError& e) {
    throw Error(std::string("[") + where + "] " + e.what());
  }
}

void h2d(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
  if (bytes > 0) MELODL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
}
void d2h(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
  if (bytes > 0) MELODL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
}
void d2d(void* dst, const void* src, std::size_t bytes, cudaStream_t s) {
  if (bytes > 0) MELODL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
}

cuda::GemmMath gemm_math(const ExecutionOptions& e) {
  switch (e.cuda_math) {
    case CudaMath::fp32:
      return cuda::GemmMath::kFp32;
    case CudaMath::bf16:
      return cuda::GemmMath::kBf16;
    case CudaMath::tf32:
      break;
  }
  return cuda::GemmMath::kTf32;
}

constexpr std::size_t kF = sizeof(float);

}  // namespace

std::uint64_t allocation_generation() { return g_alloc_generation.load(std::memory_order_relaxed); }

bool use_cuda(Device device) {
  if (device == Device::cpu) return false;
  if (device == Device::automatic) return cuda::available();
  MELODL_CHECK(cuda::available(),
               "[device] device \"cuda\" is not usable: " + cuda::unavailable_reason());
  return true;
}

// ---- DeviceNet ----------------------------------------------------------------------------

struct DeviceNet::Impl {
  Impl(const NetworkConfig& c, const ExecutionOptions& e, const ParamLayout& l)
      : cfg(c), options(e), layout(l), ctx(gemm_math(e)), params(l.total) {}

  NetworkConfig cfg;
  ExecutionOptions options;  // execution options (cuda_math, cuda_*)
  ParamLayout layout;
  cuda::DeviceContext ctx;
  Buf<float> params;
  Buf<std::int32_t> zeros;  // [>= N] all-zero indices: broadcast of the output bias
  // inference workspaces
  Buf<std::int32_t> sym;
  std::vector<Buf<float>> hs, cs, h0, c0;
  Buf<float> gates, logits;
  // step-by-step session (Sampler): per layer h, c [B,H] of session_batch streams
  int session_batch = 0;
  std::vector<Buf<float>> sess_h, sess_c;
  Buf<float> gen_u;           // session_generate: uniforms [length*B]
  Buf<std::int32_t> gen_out;  // session_generate: drawn symbols [length*B]

  // A step's outputs become the session state (buffers swapped, no copy).
  void session_swap() {
    for (int l = 0; l < cfg.layers; ++l) {
      std::swap(sess_h[l], hs[l]);
      std::swap(sess_c[l], cs[l]);
    }
  }

  // Inference workspaces for N = T*B rows.
  void ensure_inference(std::size_t N, std::size_t BH) {
    const int L = cfg.layers, H = cfg.hidden, G = 4 * H, V = cfg.vocab;
    ensure(sym, N);
    ensure(gates, N * G);
    ensure(logits, N * V);
    hs.resize(L);
    cs.resize(L);
    h0.resize(L);
    c0.resize(L);
    for (int l = 0; l < L; ++l) {
      ensure(hs[l], N * H);
      ensure(cs[l], N * H);
      ensure(h0[l], BH);
      ensure(c0[l], BH);
    }
  }

  cuda::ExecContext exec() const { return ctx.exec(); }
  cudaStream_t stream() const { return ctx.stream(); }
  cuda::GemmMath ctx_math() const { return gemm_math(options); }

  // Grows like every other workspace (ensure: a reallocation invalidates captured graphs,
  // which hold the old pointer) and zeroes the new buffer.
  void ensure_zeros(std::int64_t n) {
    const std::size_t had = zeros.size();
    ensure(zeros, static_cast<std::size_t>(n));
    if (zeros.size() != had)
      MELODL_CUDA_CHECK(
          cudaMemsetAsync(zeros.get(), 0, zeros.size() * sizeof(std::int32_t), stream()));
  }

  LayerFwdArgs layer_args(int l, int T, int B, const std::int32_t* symbols, const float* x,
                          const float* h_0, const float* c_0, float* h_s, float* c_s, float* g,
                          bool training) const {
    const auto& ly = layout.layers[l];
    const float* P = params.get();
    LayerFwdArgs a;
    a.T = T;
    a.B = B;
    a.I = ly.input;
    a.H = cfg.hidden;
    a.peephole = ly.peepholes;
    a.training = training;
    a.symbols = symbols;
    a.x = x;
    a.W = P + ly.W;
    a.R = P + ly.R;
    a.b = P + ly.b;
    a.p = ly.peepholes ? P + ly.p : nullptr;
    a.h0 = h_0;
    a.c0 = c_0;
    a.hs = h_s;
    a.cs = c_s;
    a.gates = g;
    return a;
  }

  // Layers: variant (b) (persistent) when requested and the device runs the shape (in the
  // network's math: bf16 halves the on-chip storage), else variant (a). Whether (B,H) fits is
  // asked once per shape and direction.
  std::map<std::pair<int, int>, bool> persistent_fwd_fits, persistent_bwd_fits;
  void layer_forward(const LayerFwdArgs& a, const cuda::ExecContext& ex) {
    if (options.cuda_persistent) {
      const auto key = std::make_pair(a.B, a.H);
      auto it = persistent_fwd_fits.find(key);
      if (it == persistent_fwd_fits.end())
        it = persistent_fwd_fits
                 .emplace(key, cuda::lstm_layer_forward_persistent_fits(a.B, a.H, ex.math))
                 .first;
      if (it->second) {
        cuda::lstm_layer_forward_persistent(a, ex);
        return;
      }
    }
    cuda::lstm_layer_forward(a, ex);
  }
  void layer_backward(const LayerBwdArgs& a, const cuda::ExecContext& ex) {
    if (options.cuda_persistent) {
      const auto key = std::make_pair(a.B, a.H);
      auto it = persistent_bwd_fits.find(key);
      if (it == persistent_bwd_fits.end())
        it = persistent_bwd_fits.emplace(key, cuda::lstm_layer_backward_persistent_fits(a.B, a.H))
                 .first;
      if (it->second) {
        cuda::lstm_layer_backward_persistent(a, ex);
        return;
      }
    }
    cuda::lstm_layer_backward(a, ex);
  }

  // logits [N,V] = y [N,H] Wy + by.
  void output_forward(const float* y, std::int64_t N, float* out) {
    const int H = cfg.hidden, V = cfg.vocab;
    const float* P = params.get();
    ensure_zeros(N);
    cuda::gather_rows(GatherArgs{N, 1, V, zeros.get(), P + layout.by, nullptr, out}, exec());
    cuda::gemm(exec(), false, false, static_cast<int>(N), V, H, 1.f, y, H, P + layout.Wy, V, 1.f,
               out, V);
  }
};

DeviceNet::DeviceNet(const NetworkConfig& config, const ExecutionOptions& execution,
                     const ParamLayout& layout) {
  guarded("Network (cuda)", [&] { impl_ = std::make_unique<Impl>(config, execution, layout); });
}

DeviceNet::~DeviceNet() = default;

void DeviceNet::upload_params(const float* host) {
  guarded("Network (cuda): upload parameters", [&] {
    h2d(impl_->params.get(), host, impl_->params.size() * kF, impl_->stream());
    impl_->ctx.synchronize();
  });
}

void DeviceNet::download_params(float* host) {
  guarded("Network (cuda): download parameters", [&] {
    d2h(host, impl_->params.get(), impl_->params.size() * kF, impl_->stream());
    impl_->ctx.synchronize();
  });
}

void DeviceNet::run(std::span<const std::int32_t> symbols, int T, State& state,
                    std::span<float> logits) {
  guarded("Network::run (cuda)", [&] {
    auto& d = *impl_;
    const int B = state.batch, H = d.cfg.hidden, V = d.cfg.vocab, L = d.cfg.layers;
    const std::size_t N = static_cast<std::size_t>(T) * B, BH = static_cast<std::size_t>(B) * H;
    const cudaStream_t s = d.stream();
    d.ensure_inference(N, BH);
    h2d(d.sym.get(), symbols.data(), N * sizeof(std::int32_t), s);
    for (int l = 0; l < L; ++l) {
      h2d(d.h0[l].get(), state.h[l].data(), BH * kF, s);
      h2d(d.c0[l].get(), state.c[l].data(), BH * kF, s);
    }
    for (int l = 0; l < L; ++l) {
      d.layer_forward(
          d.layer_args(l, T, B, l == 0 ? d.sym.get() : nullptr, l > 0 ? d.hs[l - 1].get() : nullptr,
                       d.h0[l].get(), d.c0[l].get(), d.hs[l].get(), d.cs[l].get(), d.gates.get(),
                       false),
          d.exec());
    }
    d.output_forward(d.hs[L - 1].get(), static_cast<std::int64_t>(N), d.logits.get());
    d2h(logits.data(), d.logits.get(), N * V * kF, s);
    for (int l = 0; l < L; ++l) {
      d2h(state.h[l].data(), d.hs[l].get() + (N - B) * H, BH * kF, s);
      d2h(state.c[l].data(), d.cs[l].get() + (N - B) * H, BH * kF, s);
    }
    d.ctx.synchronize();
  });
}

void DeviceNet::session_begin(int batch) {
  guarded("Sampler (cuda): begin", [&] {
    auto& d = *impl_;
    const int L = d.cfg.layers, H = d.cfg.hidden;
    const std::size_t BH = static_cast<std::size_t>(batch) * H;
    d.session_batch = batch;
    d.sess_h.resize(L);
    d.sess_c.resize(L);
    for (int l = 0; l < L; ++l) {
      ensure(d.sess_h[l], BH);
      ensure(d.sess_c[l], BH);
      MELODL_CUDA_CHECK(cudaMemsetAsync(d.sess_h[l].get(), 0, BH * kF, d.stream()));
      MELODL_CUDA_CHECK(cudaMemsetAsync(d.sess_c[l].get(), 0, BH * kF, d.stream()));
    }
  });
}

void DeviceNet::session_reset_rows(std::span<const int> rows) {
  guarded("Sampler (cuda): reset rows", [&] {
    auto& d = *impl_;
    const int H = d.cfg.hidden;
    for (int r : rows) {
      MELODL_CHECK(r >= 0 && r < d.session_batch,
                   "[Sampler (cuda)] row " + std::to_string(r) + " out of range");
      for (int l = 0; l < d.cfg.layers; ++l) {
        MELODL_CUDA_CHECK(cudaMemsetAsync(d.sess_h[l].get() + static_cast<std::size_t>(r) * H, 0,
                                          H * kF, d.stream()));
        MELODL_CUDA_CHECK(cudaMemsetAsync(d.sess_c[l].get() + static_cast<std::size_t>(r) * H, 0,
                                          H * kF, d.stream()));
      }
    }
  });
}

void DeviceNet::session_step(std::span<const std::int32_t> symbols, std::span<float> logits) {
  guarded("Sampler (cuda): step", [&] {
    auto& d = *impl_;
    const int B = d.session_batch, H = d.cfg.hidden, V = d.cfg.vocab, L = d.cfg.layers;
    MELODL_CHECK(symbols.size() == static_cast<std::size_t>(B) &&
                     (logits.empty() || logits.size() == static_cast<std::size_t>(B) * V),
                 "[Sampler (cuda)] step needs symbols [B] and logits [B,V] (or none)");
    const std::size_t BH = static_cast<std::size_t>(B) * H;
    d.ensure_inference(static_cast<std::size_t>(B), BH);
    h2d(d.sym.get(), symbols.data(), symbols.size() * sizeof(std::int32_t), d.stream());
    for (int l = 0; l < L; ++l) {
      d.layer_forward(
          d.layer_args(l, 1, B, l == 0 ? d.sym.get() : nullptr, l > 0 ? d.hs[l - 1].get() : nullptr,
                       d.sess_h[l].get(), d.sess_c[l].get(), d.hs[l].get(), d.cs[l].get(),
                       d.gates.get(), false),
          d.exec());
    }
    d.output_forward(d.hs[L - 1].get(), B, d.logits.get());
    if (!logits.empty()) d2h(logits.data(), d.logits.get(), logits.size() * kF, d.stream());
    d.ctx.synchronize();  // also releases `symbols` (pageable memory)
    d.session_swap();
  });
}

void DeviceNet::session_generate(int length, float temperature, std::span<const float> u,
                                 std::span<std::int32_t> out) {
  guarded("Sampler (cuda): generate", [&] {
    auto& d = *impl_;
    const int B = d.session_batch, H = d.cfg.hidden, V = d.cfg.vocab, L = d.cfg.layers;
    const std::size_t n = static_cast<std::size_t>(length) * B;
    MELODL_CHECK(length >= 0 && temperature > 0 && u.size() == n && out.size() == n,
                 "[Sampler (cuda)] generate needs temperature > 0, u and out [length*batch]");
    if (n == 0) return;
    d.ensure_inference(static_cast<std::size_t>(B), static_cast<std::size_t>(B) * H);
    ensure(d.gen_u, n);
    ensure(d.gen_out, n);
    h2d(d.gen_u.get(), u.data(), n * kF, d.stream());
    for (int step = 0; step < length; ++step) {
      std::int32_t* drawn = d.gen_out.get() + static_cast<std::size_t>(step) * B;
      SampleArgs sa;
      sa.B = B;
      sa.V = V;
      sa.logits = d.logits.get();
      sa.temperature = temperature;
      sa.u = d.gen_u.get() + static_cast<std::size_t>(step) * B;
      sa.out = drawn;
      cuda::sample(sa, d.exec());
      if (step + 1 == length) break;
      for (int l = 0; l < L; ++l)
        d.layer_forward(
            d.layer_args(l, 1, B, l == 0 ? drawn : nullptr, l > 0 ? d.hs[l - 1].get() : nullptr,
                         d.sess_h[l].get(), d.sess_c[l].get(), d.hs[l].get(), d.cs[l].get(),
                         d.gates.get(), false),
            d.exec());
      d.output_forward(d.hs[L - 1].get(), B, d.logits.get());
      d.session_swap();
    }
    d2h(out.data(), d.gen_out.get(), n * sizeof(std::int32_t), d.stream());
    d.ctx.synchronize();
  });
}

// ---- DeviceTrainer ------------------------------------------------------------------------

namespace {

struct DevState {
  int batch = 0;
  std::vector<Buf<float>> h, c;
};

OptimKind optim_kind(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::sgd:
      return OptimKind::kSgdMomentum;
    case OptimizerKind::adam:
      return OptimKind::kAdam;
    case OptimizerKind::rmsprop:
      return OptimKind::kRmsProp;
    case OptimizerKind::dl4j_rmsprop:
      return OptimKind::kRmsPropDl4j;
  }
  return OptimKind::kAdam;
}

}  // namespace

struct DeviceTrainer::Impl {
  OptimizerConfig opt;
  std::size_t P = 0;
  Buf<float> grads, m, v;  // m: sgd velocity / adam m; v: rmsprop cache / adam v
  Buf<std::uint8_t> mask;  // 1 = weight (L2 applies)
  Buf<float> ws;           // reduction workspace [kSumWorkspaceFloats + 1]
  Buf<float> scalars;      // [kWeightSq + weight runs]
  std::vector<std::pair<std::size_t, std::size_t>> weight_runs;  // (offset, length)
  Buf<std::int32_t> in, tg;
  Buf<float> wts;
  std::vector<Buf<float>> hs, cs, gates, dH;
  Buf<float> logits, loss_rows, bwd_ws;
  DevState carried, scratch;
  Staging staging;  // pinned host copy of a segment's inputs, targets and mask
  // CUDA graphs of segment bodies by (T, B, bwd, backward, carried slot, mask)
  std::map<std::tuple<int, int, int, bool, bool, bool>, std::unique_ptr<GraphExec>> graphs;
  // wavefront: a stream + cuBLAS handle for each layer above 0, events, per-layer backward
  // workspaces and (dh, dc) pairs passed between chunks
  std::vector<cuda::DeviceContext> side;
  std::vector<std::unique_ptr<Event>> events;
  std::vector<Buf<float>> wf_ws, wf_dhc;

  // Steps per wavefront chunk for a segment of T steps, or 0 when layers run one after another.
  int wavefront_chunk(const DeviceNet::Impl& d, int T) const;
  void ensure_wavefront(DeviceNet::Impl& d, int T, int B, bool backward);
  // Enqueues forward, loss, backward and the final-state copy of one segment whose inputs are
  // already on the device; allocates nothing (it may be captured into a CUDA graph).
  void segment_body(DeviceNet::Impl& d, DevState& st, int T, int B, int bwd, bool backward,
                    bool has_mask, int chunk);

  DevState& slot(StateSlot s) { return s == StateSlot::carried ? carried : scratch; }

  // Device buffers of the optimiser's slots, in Optimizer::slot_names() order.
  std::vector<Buf<float>*> slot_buffers() {
    switch (opt.kind) {
      case OptimizerKind::sgd:
        return {&m};
      case OptimizerKind::adam:
        return {&m, &v};
      case OptimizerKind::rmsprop:
      case OptimizerKind::dl4j_rmsprop:
        return {&v};
    }
    return {};
  }

  void resize_state(DevState& st, int L, int B, int H) {
    const std::size_t BH = static_cast<std::size_t>(B) * H;
    st.batch = B;
    st.h.resize(L);
    st.c.resize(L);
    for (int l = 0; l < L; ++l) {
      ensure(st.h[l], BH);
      ensure(st.c[l], BH);
    }
  }
};

DeviceTrainer::DeviceTrainer(DeviceNet& net, const OptimizerConfig& optimizer,
                             std::span<const std::uint8_t> weight_mask) {
  guarded("Trainer (cuda)", [&] {
    auto& d = net.impl();
    impl_ = std::make_unique<Impl>();
    auto& t = *impl_;
    t.opt = optimizer;
    t.P = d.layout.total;
    t.grads = Buf<float>(t.P);
    if (optimizer.kind == OptimizerKind::sgd || optimizer.kind == OptimizerKind::adam)
      t.m = Buf<float>(t.P);
    if (optimizer.kind != OptimizerKind::sgd) t.v = Buf<float>(t.P);
    t.mask = Buf<std::uint8_t>(t.P);
    t.ws = Buf<float>(static_cast<std::size_t>(cuda::kSumWorkspaceFloats) + 1);
    // contiguous runs of weight tensors (per layer W+R, then p with the next W+R, ...)
    for (const auto& pt : d.layout.tensors) {
      if (!pt.is_weight) continue;
      if (!t.weight_runs.empty() &&
          t.weight_runs.back().first + t.weight_runs.back().second == pt.offset)
        t.weight_runs.back().second += pt.size();
      else
        t.weight_runs.emplace_back(pt.offset, pt.size());
    }
    t.scalars = Buf<float>(static_cast<std::size_t>(Scalar::kWeightSq) + t.weight_runs.size());
    h2d(t.mask.get(), weight_mask.data(), t.P, d.stream());
    MELODL_CUDA_CHECK(cudaMemsetAsync(t.grads.get(), 0, t.P * kF, d.stream()));
    MELODL_CUDA_CHECK(cudaMemsetAsync(t.scalars.get(), 0, t.scalars.size() * kF, d.stream()));
    d.ctx.synchronize();
  });
}

DeviceTrainer::~DeviceTrainer() = default;

void DeviceTrainer::upload_state(DeviceNet& net, StateSlot slot, const State& state) {
  guarded("Trainer (cuda): upload state", [&] {
    auto& d = net.impl();
    auto& st = impl_->slot(slot);
    const int L = d.cfg.layers, H = d.cfg.hidden;
    impl_->resize_state(st, L, state.batch, H);
    const std::size_t BH = static_cast<std::size_t>(state.batch) * H;
    for (int l = 0; l < L; ++l) {
      h2d(st.h[l].get(), state.h[l].data(), BH * kF, d.stream());
      h2d(st.c[l].get(), state.c[l].data(), BH * kF, d.stream());
    }
    // no synchronisation: stream-ordered before the segment; the caller's State stays valid
    // until the segment's own synchronisation (read_scalars / download_state)
  });
}

void DeviceTrainer::zero_state(DeviceNet& net, StateSlot slot, int batch) {
  guarded("Trainer (cuda): zero state", [&] {
    auto& d = net.impl();
    auto& st = impl_->slot(slot);
    const int L = d.cfg.layers, H = d.cfg.hidden;
    impl_->resize_state(st, L, batch, H);
    const std::size_t BH = static_cast<std::size_t>(batch) * H;
    for (int l = 0; l < L; ++l) {
      MELODL_CUDA_CHECK(cudaMemsetAsync(st.h[l].get(), 0, BH * kF, d.stream()));
      MELODL_CUDA_CHECK(cudaMemsetAsync(st.c[l].get(), 0, BH * kF, d.stream()));
    }
  });
}

void DeviceTrainer::download_state(DeviceNet& net, StateSlot slot, State& state) {
  guarded("Trainer (cuda): download state", [&] {
    auto& d = net.impl();
    auto& st = impl_->slot(slot);
    if (state.batch != st.batch || static_cast<int>(state.h.size()) != d.cfg.layers)
      state = State::zeros(d.cfg, st.batch);
    const std::size_t BH = static_cast<std::size_t>(st.batch) * d.cfg.hidden;
    for (int l = 0; l < d.cfg.layers; ++l) {
      d2h(state.h[l].data(), st.h[l].get(), BH * kF, d.stream());
      d2h(state.c[l].data(), st.c[l].get(), BH * kF, d.stream());
    }
    d.ctx.synchronize();
  });
}

int DeviceTrainer::state_batch(StateSlot slot) const {
  return slot == StateSlot::carried ? impl_->carried.batch : impl_->scratch.batch;
}

void DeviceTrainer::enqueue_segment(DeviceNet& net, const Batch& seg, StateSlot slot, int bwd,
                                    bool backward) {
  guarded("Trainer (cuda): segment", [&] {
    auto& d = net.impl();
    auto& t = *impl_;
    auto& st = t.slot(slot);
    const int T = seg.T, B = seg.B, L = d.cfg.layers, H = d.cfg.hidden, G = 4 * H, V = d.cfg.vocab;
    MELODL_CHECK(st.batch == B, "[Trainer (cuda)] device state holds batch " +
                                    std::to_string(st.batch) + ", segment has " +
                                    std::to_string(B));
    const std::size_t n = static_cast<std::size_t>(T) * B;
    if (bwd <= 0 || bwd > T) bwd = T;
    const bool has_mask = !seg.mask.empty();
    const int chunk = t.wavefront_chunk(d, T);

    // 1. every allocation first (none may happen inside a graph capture)
    ensure(t.in, n);
    ensure(t.tg, n);
    if (has_mask) ensure(t.wts, n);
    ensure(t.logits, n * V);
    ensure(t.loss_rows, n);
    d.ensure_zeros(static_cast<std::int64_t>(n));
    t.hs.resize(L);
    t.cs.resize(L);
    t.gates.resize(L);
    t.dH.resize(L);
    for (int l = 0; l < L; ++l) {
      ensure(t.hs[l], n * H);
      ensure(t.cs[l], n * H);
      ensure(t.gates[l], n * G);
      if (backward) ensure(t.dH[l], n * H);
    }
    if (backward) ensure(t.bwd_ws, cuda::lstm_layer_bwd_workspace_floats(bwd, B, H));
    if (chunk > 0) t.ensure_wavefront(d, T, B, backward);

    // 2. inputs, targets and mask through the pinned staging buffer
    const std::size_t ib = n * sizeof(std::int32_t), mb = has_mask ? n * kF : 0;
    char* stage = t.staging.get(2 * ib + mb);
    std::memcpy(stage, seg.inputs.data(), ib);
    std::memcpy(stage + ib, seg.targets.data(), ib);
    if (has_mask) std::memcpy(stage + 2 * ib, seg.mask.data(), mb);
    h2d(t.in.get(), stage, ib, d.stream());
    h2d(t.tg.get(), stage + ib, ib, d.stream());
    if (has_mask) h2d(t.wts.get(), stage + 2 * ib, mb, d.stream());
    t.staging.uploaded(d.stream());

    // 3. forward, loss, backward and the final state: eagerly or as a (cached) CUDA graph
    if (!d.options.cuda_graphs) {
      t.segment_body(d, st, T, B, bwd, backward, has_mask, chunk);
      return;
    }
    const auto key = std::make_tuple(T, B, bwd, backward, slot == StateSlot::carried, has_mask);
    const std::uint64_t gen = g_alloc_generation.load(std::memory_order_relaxed);
    auto& ge = t.graphs[key];
    if (!ge || ge->generation != gen) {
      if (ge && ge->generation != gen) t.graphs.clear();  // a captured buffer was reallocated
      auto fresh = std::make_unique<GraphExec>();
      fresh->generation = gen;
      cudaGraph_t graph = nullptr;
      MELODL_CUDA_CHECK(cudaStreamBeginCapture(d.stream(), cudaStreamCaptureModeThreadLocal));
      try {
        t.segment_body(d, st, T, B, bwd, backward, has_mask, chunk);
      } catch (...) {
        cudaGraph_t broken = nullptr;
        if (cudaStreamEndCapture(d.stream(), &broken) == cudaSuccess && broken)
          cudaGraphDestroy(broken);
        throw;
      }
      MELODL_CUDA_CHECK(cudaStreamEndCapture(d.stream(), &graph));
      const cudaError_t e = cudaGraphInstantiate(&fresh->exec, graph, 0);
      cudaGraphDestroy(graph);
      MELODL_CUDA_CHECK(e);
      MELODL_CHECK(g_alloc_generation.load(std::memory_order_relaxed) == gen,
                   "[Trainer (cuda)] internal error: a buffer was allocated during graph capture");
      t.graphs[key] = std::move(fresh);
    }
    MELODL_CUDA_CHECK(cudaGraphLaunch(t.graphs[key]->exec, d.stream()));
  });
}

int DeviceTrainer::Impl::wavefront_chunk(const DeviceNet::Impl& d, int T) const {
  const int c = d.options.cuda_wavefront;
  if (c <= 0 || d.cfg.layers < 2 || d.options.cuda_persistent || c >= T) return 0;
  return c;
}

void DeviceTrainer::Impl::ensure_wavefront(DeviceNet::Impl& d, int T, int B, bool backward) {
  const int L = d.cfg.layers, H = d.cfg.hidden;
  const int C = d.options.cuda_wavefront, K = (T + C - 1) / C;
  while (static_cast<int>(side.size()) < L - 1) side.emplace_back(d.ctx_math());
  const std::size_t need = static_cast<std::size_t>(L) * K * 2 + 1;
  while (events.size() < need) events.push_back(std::make_unique<Event>());
  if (backward) {
    const std::size_t BH = static_cast<std::size_t>(B) * H;
    wf_ws.resize(L);
    wf_dhc.resize(L);
    for (int l = 0; l < L; ++l) {
      ensure(wf_ws[l], cuda::lstm_layer_bwd_workspace_floats(std::min(C, T), B, H));
      ensure(wf_dhc[l], 4 * BH);  // two (dh, dc) pairs: chunk k writes one, reads the other
    }
  }
}

void DeviceTrainer::Impl::segment_body(DeviceNet::Impl& d, DevState& st, int T, int B, int bwd,
                                       bool backward, bool has_mask, int chunk) {
  const int L = d.cfg.layers, H = d.cfg.hidden, G = 4 * H, V = d.cfg.vocab;
  const std::int64_t N = static_cast<std::int64_t>(T) * B;
  const std::size_t n = static_cast<std::size_t>(N), BH = static_cast<std::size_t>(B) * H;
  const int t0 = T - bwd;
  const std::size_t wr0 = static_cast<std::size_t>(t0) * B;  // first row of the window
  const std::int64_t nw = N - static_cast<std::int64_t>(wr0);
  const cudaStream_t s = d.stream();
  const cuda::ExecContext ex = d.exec();
  const float* P = d.params.get();
  // stream and context of layer l (the wavefront gives each layer above 0 its own)
  auto lctx = [&](int l) { return chunk > 0 && l > 0 ? side[l - 1].exec() : ex; };

  // forward: layer after layer, or as a wavefront of chunks
  if (chunk == 0) {
    for (int l = 0; l < L; ++l)
      d.layer_forward(d.layer_args(l, T, B, l == 0 ? in.get() : nullptr,
                                   l > 0 ? hs[l - 1].get() : nullptr, st.h[l].get(), st.c[l].get(),
                                   hs[l].get(), cs[l].get(), gates[l].get(), backward),
                      ex);
  } else {
    const int K = (T + chunk - 1) / chunk;
    auto ev = [&](int l, int k) { return events[static_cast<std::size_t>(l) * K + k]->e; };
    cudaEvent_t fork = events.back()->e;
    MELODL_CUDA_CHECK(cudaEventRecord(fork, s));
    for (int l = 1; l < L; ++l) MELODL_CUDA_CHECK(cudaStreamWaitEvent(lctx(l).stream, fork, 0));
    for (int k = 0; k < K; ++k) {
      const int ta = k * chunk, len = std::min(chunk, T - ta);
      const std::size_t r = static_cast<std::size_t>(ta) * B;  // first row of the chunk
      for (int l = 0; l < L; ++l) {
        const cuda::ExecContext lc = lctx(l);
        if (l > 0) MELODL_CUDA_CHECK(cudaStreamWaitEvent(lc.stream, ev(l - 1, k), 0));
        d.layer_forward(
            d.layer_args(l, len, B, l == 0 ? in.get() + r : nullptr,
                         l > 0 ? hs[l - 1].get() + r * H : nullptr,
                         k == 0 ? st.h[l].get() : hs[l].get() + (r - B) * H,
                         k == 0 ? st.c[l].get() : cs[l].get() + (r - B) * H, hs[l].get() + r * H,
                         cs[l].get() + r * H, gates[l].get() + r * G, backward),
            lc);
        MELODL_CUDA_CHECK(cudaEventRecord(ev(l, k), lc.stream));
      }
    }
    for (int l = 1; l < L; ++l) MELODL_CUDA_CHECK(cudaStreamWaitEvent(s, ev(l, K - 1), 0));
  }
  const float* top = hs[L - 1].get();
  d.output_forward(top, N, logits.get());
  SoftmaxXentArgs sx;
  sx.N = N;
  sx.V = V;
  sx.logits = logits.get();
  sx.targets = tg.get();
  sx.weights = has_mask ? wts.get() : nullptr;
  sx.loss_rows = loss_rows.get();
  sx.dlogits = backward ? logits.get() : nullptr;
  sx.loss_sum = scalars.get() + Scalar::kLoss;
  sx.workspace = ws.get();
  cuda::softmax_xent(sx, ex);

  if (backward) {
    float* g = grads.get();
    const float* dlog = logits.get() + wr0 * V;
    // output layer over the window rows
    cuda::gemm(ex, true, false, H, V, static_cast<int>(nw), 1.f, top + wr0 * H, H, dlog, V, 0.f,
               g + d.layout.Wy, V);
    cuda::column_sum(dlog, nw, V, g + d.layout.by, false, ex);
    cuda::gemm(ex, false, true, static_cast<int>(nw), H, V, 1.f, dlog, V, P + d.layout.Wy, V, 0.f,
               dH[L - 1].get() + wr0 * H, H);
    // LSTM layers over the window [t0, T): top to bottom, each over the whole window, or as a
    // wavefront of chunks (from the last to the first; chunk k takes dh_T, dc_T from chunk
    // k+1's dh0, dc0 and adds its weight gradients to the later chunks')
    const int C = chunk > 0 ? chunk : bwd;
    const int K = (bwd + C - 1) / C;
    auto ev = [&](int l, int k) {
      return events[static_cast<std::size_t>(L) * K + static_cast<std::size_t>(l) * K + k]->e;
    };
    if (K > 1) {
      cudaEvent_t fork = events.back()->e;
      MELODL_CUDA_CHECK(cudaEventRecord(fork, s));
      for (int l = 1; l < L; ++l) MELODL_CUDA_CHECK(cudaStreamWaitEvent(lctx(l).stream, fork, 0));
    }
    for (int k = K - 1; k >= 0; --k) {
      const int ta = t0 + k * C, len = std::min(C, T - ta);
      const std::size_t r = static_cast<std::size_t>(ta) * B;
      for (int l = L - 1; l >= 0; --l) {
        const cuda::ExecContext lc = K > 1 ? lctx(l) : ex;
        if (K > 1 && l < L - 1) MELODL_CUDA_CHECK(cudaStreamWaitEvent(lc.stream, ev(l + 1, k), 0));
        const auto& ly = d.layout.layers[l];
        LayerBwdArgs a;
        a.T = len;
        a.B = B;
        a.I = ly.input;
        a.H = H;
        a.peephole = ly.peepholes;
        a.accumulate = k != K - 1;
        a.symbols = l == 0 ? in.get() + r : nullptr;
        a.x = l > 0 ? hs[l - 1].get() + r * H : nullptr;
        a.W = P + ly.W;
        a.R = P + ly.R;
        a.p = ly.peepholes ? P + ly.p : nullptr;
        a.h0 = ta > 0 ? hs[l].get() + (r - B) * H : st.h[l].get();
        a.c0 = ta > 0 ? cs[l].get() + (r - B) * H : st.c[l].get();
        a.hs = hs[l].get() + r * H;
        a.cs = cs[l].get() + r * H;
        a.gates = gates[l].get() + r * G;
        a.dhs = dH[l].get() + r * H;
        if (K > 1) {
          float* mine = wf_dhc[l].get() + static_cast<std::size_t>(k % 2) * 2 * BH;
          const float* later = wf_dhc[l].get() + static_cast<std::size_t>((k + 1) % 2) * 2 * BH;
          a.dh_T = k < K - 1 ? later : nullptr;
          a.dc_T = k < K - 1 ? later + BH : nullptr;
          a.dh0 = k > 0 ? mine : nullptr;
          a.dc0 = k > 0 ? mine + BH : nullptr;
        }
        a.dW = g + ly.W;
        a.dR = g + ly.R;
        a.db = g + ly.b;
        a.dp = ly.peepholes ? g + ly.p : nullptr;
        a.dx = l > 0 ? dH[l - 1].get() + r * H : nullptr;
        a.workspace = K > 1 ? wf_ws[l].get() : bwd_ws.get();
        d.layer_backward(a, lc);
        if (K > 1) MELODL_CUDA_CHECK(cudaEventRecord(ev(l, k), lc.stream));
      }
    }
    if (K > 1)
      for (int l = 1; l < L; ++l) MELODL_CUDA_CHECK(cudaStreamWaitEvent(s, ev(l, 0), 0));
  }
  // the final state becomes the slot's state (after backward, which read the old one)
  for (int l = 0; l < L; ++l) {
    d2d(st.h[l].get(), hs[l].get() + (n - B) * H, BH * kF, s);
    d2d(st.c[l].get(), cs[l].get() + (n - B) * H, BH * kF, s);
  }
}

void DeviceTrainer::enqueue_grad_sumsq(DeviceNet& net) {
  guarded("Trainer (cuda): gradient norm", [&] {
    auto& t = *impl_;
    cuda::sum(t.grads.get(), static_cast<std::int64_t>(t.P), true,
              t.scalars.get() + Scalar::kGradSq, t.ws.get(), net.impl().exec());
  });
}

void DeviceTrainer::enqueue_param_sumsq(DeviceNet& net) {
  guarded("Trainer (cuda): parameter check", [&] {
    auto& t = *impl_;
    auto& d = net.impl();
    cuda::sum(d.params.get(), static_cast<std::int64_t>(t.P), true,
              t.scalars.get() + Scalar::kParamSq, t.ws.get(), d.exec());
  });
}

int DeviceTrainer::enqueue_weight_sumsq(DeviceNet& net) {
  return guarded("Trainer (cuda): weight norm", [&] {
    auto& t = *impl_;
    auto& d = net.impl();
    for (std::size_t k = 0; k < t.weight_runs.size(); ++k)
      cuda::sum(d.params.get() + t.weight_runs[k].first,
                static_cast<std::int64_t>(t.weight_runs[k].second), true,
                t.scalars.get() + Scalar::kWeightSq + k, t.ws.get(), d.exec());
    return static_cast<int>(t.weight_runs.size());
  });
}

void DeviceTrainer::enqueue_update(DeviceNet& net, const OptimizerConfig& c, float grad_scale,
                                   float clip_norm, bool report_norm, int minibatch,
                                   std::int64_t step) {
  guarded("Trainer (cuda): optimiser step", [&] {
    auto& t = *impl_;
    auto& d = net.impl();
    MELODL_CHECK(c.kind == t.opt.kind, "[Trainer (cuda)] the optimiser kind cannot change");
    OptimArgs a;
    a.kind = optim_kind(c.kind);
    a.n = static_cast<std::int64_t>(t.P);
    a.w = d.params.get();
    a.g = t.grads.get();
    a.m = t.m.size() ? t.m.get() : nullptr;
    a.v = t.v.size() ? t.v.get() : nullptr;
    a.l2_mask = t.mask.get();
    a.lr = c.lr;
    a.l2 = c.l2;
    a.rho = c.rms_decay;
    a.eps = c.eps;
    a.beta1 = c.beta1;
    a.beta2 = c.beta2;
    a.step = step;
    a.momentum = c.momentum;
    a.minibatch = static_cast<float>(minibatch);
    a.grad_scale = grad_scale;
    a.clip_norm = clip_norm;
    a.norm_out = clip_norm > 0 || report_norm ? t.scalars.get() + Scalar::kNorm : nullptr;
    a.workspace = t.ws.get();
    cuda::optim_step(a, d.exec());
  });
}

std::vector<double> DeviceTrainer::read_scalars(DeviceNet& net, int n) {
  return guarded("Trainer (cuda): read results", [&] {
    auto& d = net.impl();
    std::vector<float> host(static_cast<std::size_t>(n));
    d2h(host.data(), impl_->scalars.get(), host.size() * kF, d.stream());
    d.ctx.synchronize();
    return std::vector<double>(host.begin(), host.end());
  });
}

void DeviceTrainer::download_grads(DeviceNet& net, float* host) {
  guarded("Trainer (cuda): download gradient", [&] {
    auto& d = net.impl();
    d2h(host, impl_->grads.get(), impl_->P * kF, d.stream());
    d.ctx.synchronize();
  });
}

void DeviceTrainer::upload_grads(DeviceNet& net, const float* host) {
  guarded("Trainer (cuda): upload gradient", [&] {
    auto& d = net.impl();
    h2d(impl_->grads.get(), host, impl_->P * kF, d.stream());
    d.ctx.synchronize();
  });
}

void DeviceTrainer::download_slots(DeviceNet& net, std::vector<std::vector<float>>& slots) {
  guarded("Trainer (cuda): download optimiser state", [&] {
    auto& d = net.impl();
    const auto bufs = impl_->slot_buffers();
    slots.resize(bufs.size());
    for (std::size_t k = 0; k < bufs.size(); ++k) {
      slots[k].resize(impl_->P);
      d2h(slots[k].data(), bufs[k]->get(), impl_->P * kF, d.stream());
    }
    d.ctx.synchronize();
  });
}

void DeviceTrainer::upload_slots(DeviceNet& net, const std::vector<std::vector<float>>& slots) {
  guarded("Trainer (cuda): upload optimiser state", [&] {
    auto& d = net.impl();
    const auto bufs = impl_->slot_buffers();
    MELODL_CHECK(slots.size() == bufs.size(),
                 "[Trainer (cuda)] optimiser state has " + std::to_string(slots.size()) +
                     " slots, the optimiser needs " + std::to_string(bufs.size()));
    for (std::size_t k = 0; k < bufs.size(); ++k) {
      MELODL_CHECK(slots[k].size() == impl_->P,
                   "[Trainer (cuda)] optimiser slot " + std::to_string(k) + " has " +
                       std::to_string(slots[k].size()) + " values, expected " +
                       std::to_string(impl_->P));
      h2d(bufs[k]->get(), slots[k].data(), impl_->P * kF, d.stream());
    }
    d.ctx.synchronize();
  });
}

}  // namespace melodl::lstm::cudabk
