// lstm/cuda/device_trainer.h: DeviceTrainer::Impl (lstm/cuda/backend.h), the device state of
// one Trainer shared by the CUDA backend's training files: the gradient, the optimiser slots,
// the reduction scalars, the segment workspaces, the carried and scratch recurrent states, the
// pinned staging buffer, the cached CUDA graphs and the wavefront's side streams. The segment
// body (forward, loss, backward) is in lstm/cuda/segment.cpp; the public DeviceTrainer
// operations (allocation, uploads, graph capture and replay, optimiser step, host copies) in
// lstm/cuda/device_trainer.cpp. Internal to lstm/cuda/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/runtime.h"
#include "lstm/cuda/backend.h"
#include "lstm/cuda/device_net.h"
#include "lstm/cuda/device_util.h"

namespace melodl::lstm::cudabk {

// A device-resident recurrent state: per layer h, c [batch,H].
struct DevState {
  int batch = 0;
  std::vector<Buf<float>> h, c;
};

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

}  // namespace melodl::lstm::cudabk
