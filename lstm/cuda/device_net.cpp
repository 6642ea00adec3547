// lstm/cuda/device_net.cpp: the network side of the CUDA backend (interface:
// lstm/cuda/backend.h; state: DeviceNet::Impl in lstm/cuda/device_net.h): the device choice,
// the parameter copies, inference over a chunk (Network::run) and the step-by-step sampling
// session with its on-device draw (Sampler), plus the layer and output-layer building blocks
// the trainer's segments use too (lstm/cuda/segment.cpp). Host code on the launchers of
// kernels/ (variant (a) layers: cuBLAS GEMM + fused pointwise; one-hot input as a row gather;
// the output bias broadcast as a gather of row 0 with all-zero indices, an exact copy).
// Errors of the kernels layer are rethrown as melodl::lstm errors with the operation's name
// in front (guarded, lstm/cuda/device_util.h).
#include "lstm/cuda/device_net.h"

#include <string>
#include <utility>

#include "kernels/cuda_check.cuh"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/sample.h"

namespace melodl::lstm::cudabk {

std::uint64_t allocation_generation() { return g_alloc_generation.load(std::memory_order_relaxed); }

bool use_cuda(Device device) {
  if (device == Device::cpu) return false;
  if (device == Device::automatic) return cuda::available();
  MELODL_CHECK(cuda::available(),
               "[device] device \"cuda\" is not usable: " + cuda::unavailable_reason());
  return true;
}

// ---- DeviceNet::Impl ----------------------------------------------------------------------

void DeviceNet::Impl::session_swap() {
  for (int l = 0; l < cfg.layers; ++l) {
    std::swap(sess_h[l], hs[l]);
    std::swap(sess_c[l], cs[l]);
  }
}

void DeviceNet::Impl::ensure_inference(std::size_t N, std::size_t BH) {
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

void DeviceNet::Impl::ensure_zeros(std::int64_t n) {
  const std::size_t had = zeros.size();
  ensure(zeros, static_cast<std::size_t>(n));
  if (zeros.size() != had)
    MELODL_CUDA_CHECK(
        cudaMemsetAsync(zeros.get(), 0, zeros.size() * sizeof(std::int32_t), stream()));
}

LayerFwdArgs DeviceNet::Impl::layer_args(int l, int T, int B, const std::int32_t* symbols,
                                         const float* x, const float* h_0, const float* c_0,
                                         float* h_s, float* c_s, float* g, bool training) const {
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

void DeviceNet::Impl::layer_forward(const LayerFwdArgs& a, const cuda::ExecContext& ex) {
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

void DeviceNet::Impl::layer_backward(const LayerBwdArgs& a, const cuda::ExecContext& ex) {
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

void DeviceNet::Impl::output_forward(const float* y, std::int64_t N, float* out) {
  const int H = cfg.hidden, V = cfg.vocab;
  const float* P = params.get();
  ensure_zeros(N);
  cuda::gather_rows(GatherArgs{N, 1, V, zeros.get(), P + layout.by, nullptr, out}, exec());
  cuda::gemm(exec(), false, false, static_cast<int>(N), V, H, 1.f, y, H, P + layout.Wy, V, 1.f, out,
             V);
}

// ---- DeviceNet ----------------------------------------------------------------------------

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

}  // namespace melodl::lstm::cudabk
