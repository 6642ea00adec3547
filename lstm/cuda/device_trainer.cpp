// lstm/cuda/device_trainer.cpp: the public operations of the CUDA backend's DeviceTrainer
// (interface: lstm/cuda/backend.h; state: lstm/cuda/device_trainer.h): construction of the
// gradient and optimiser buffers, the recurrent-state slots, a segment's allocation and
// pinned upload and its CUDA graph (captured once per shape and replayed; the body itself is
// lstm/cuda/segment.cpp), the deterministic reductions, the fused optimiser step and the
// synchronous host copies. Errors of the kernels layer are rethrown as melodl::lstm errors with
// the operation's name in front (guarded, lstm/cuda/device_util.h).
#include "lstm/cuda/device_trainer.h"

#include <cstring>
#include <string>
#include <tuple>
#include <utility>

#include "kernels/cuda_check.cuh"
#include "kernels/lstm_layer.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"

namespace melodl::lstm::cudabk {

namespace {

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
