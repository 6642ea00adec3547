// lstm/cuda/segment.cpp: the body of one training segment on the device (DeviceTrainer::Impl,
// lstm/cuda/device_trainer.h): forward, loss, backward and the final-state copy, enqueued on
// the network's stream (and, for the layer wavefront, on one side stream per layer above 0).
// It allocates nothing, so DeviceTrainer::enqueue_segment (device_trainer.cpp) may capture it
// into a CUDA graph.
//
// Per segment (T steps, B streams, N = T*B rows), on one stream:
//   per layer l: lstm_layer_forward (or, with ExecutionOptions::cuda_persistent and where the shape
//   fits, lstm_layer_forward_persistent) from the slot's state -> hs[l], cs[l], gates[l];
//   logits [N,V] = broadcast(by) (a gather of row 0 with all-zero indices: an exact copy)
//                  + hs[top] Wy (cuBLAS);
//   softmax_xent (weights = mask): loss sum -> scalar kLoss, dlogits in place;
//   backward window rows [t0*B, N) (t0 = T - bwd): dWy = hs_top^T dlogits, dby = column sum,
//   dH_top = dlogits Wy^T; per layer top-down lstm_layer_backward over the window with
//   h0/c0 = the state entering the window (held constant: truncated BPTT), dx -> dH[l-1];
//   final state hs[l][T-1], cs[l][T-1] -> the slot (after backward, which reads the old one).
// With ExecutionOptions::cuda_wavefront = C (two layers or more, not persistent, C < T) the
// layers run as a wavefront of C-step chunks: chunk k of layer l starts once chunk k of layer
// l-1 is done, on layer l's own stream, forward and (from the last chunk to the first)
// backward.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/cuda_check.cuh"
#include "kernels/gemm.h"
#include "kernels/lstm_layer.h"
#include "kernels/reduce.h"
#include "kernels/softmax_xent.h"
#include "lstm/cuda/device_trainer.h"

namespace melodl::lstm::cudabk {

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

}  // namespace melodl::lstm::cudabk
