// lstm/cpu/trainer_backend.cpp: the CPU training backend (lstm/backend.h): truncated-BPTT
// segments with Eigen GEMMs and the fused pointwise cell (lstm/cpu/cell.h), split over a
// ThreadTeam by hidden units: thread k owns units [u0,u1) of every layer, i.e. the columns
// qH+u0..qH+u1 of all four gate blocks, for the input projection, the per-step recurrent
// GEMM, the cell, the backward cell and the weight gradients; row ranges for the output
// layer and dX. One barrier per time step. Spec: lstm/ref.h. Tests: tests/lstm/backend_test.cpp,
// trainer_test.cpp.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "lstm/backend.h"
#include "lstm/cpu/cell.h"
#include "lstm/cpu/eigen.h"
#include "lstm/cpu/thread_team.h"

namespace melodl::lstm {

namespace {

using cpu::cmat;
using cpu::ConstRowVecMap;
using cpu::mat;
using cpu::RowVecMap;

constexpr int kUnitAlign = 8;  // unit ranges per thread are multiples of 8 floats (AVX2)

class CpuTrainBackend final : public TrainBackend {
 public:
  CpuTrainBackend(int threads, std::span<const std::uint8_t> mask)
      : team_(threads), weight_mask_(mask.begin(), mask.end()) {}

  void begin_batch(const Network& net, int B, bool reset) override {
    if (reset || carried_.batch != B) carried_ = net.zero_state(B);
  }
  void zero_scratch(const Network& net, int B) override { scratch_ = net.zero_state(B); }
  void load_scratch(const Network&, const State& state) override { scratch_ = state; }
  void store_scratch(const Network&, State& state) override { state = scratch_; }

  StepStats segment(Network& net, Optimizer& opt, const Batch& seg, StateSlot slot, int bwd,
                    Pass pass, const DropoutMasks& drop) override {
    drop_ = drop;
    compute(net, seg, slot == StateSlot::carried ? carried_ : scratch_, bwd, pass != Pass::forward);
    drop_ = {};
    StepStats s;
    for (int k = 0; k < team_.size(); ++k) {
      s.loss_sum += loss_part[k];
      s.count += count_part[k];
    }
    s.segments = 1;
    if (pass != Pass::update) return s;
    auto w = net.params();
    const float l2 = opt.config().l2;
    if (l2 > 0) {
      double sq = 0;
      for (std::size_t k = 0; k < w.size(); ++k)
        if (weight_mask_[k]) sq += static_cast<double>(w[k]) * w[k];
      s.score = (s.loss_sum + 0.5 * l2 * sq) / seg.B;
    } else {
      s.score = s.loss_sum / seg.B;
    }
    s.grad_norm = opt.apply(w, grads, weight_mask_, s.count, seg.B);
    return s;
  }

  bool has_gradients() const override { return !grads.empty(); }
  std::span<const float> gradients(const Network&) override { return grads; }
  std::span<float> mutable_gradients(const Network&) override { return grads; }
  void slots_to_host(const Network&, Optimizer&, bool) override {}
  const State& carried_state(const Network&) override { return carried_; }
  void set_carried_state(State state) override { carried_ = std::move(state); }

  double gradient_sumsq(const Network&) override {
    double sumsq = 0;
    for (float g : grads) sumsq += static_cast<double>(g) * g;
    return sumsq;
  }
  double apply_gradient(Network& net, Optimizer& opt, const StepStats& stats, int sequences, double,
                        double) override {
    update_grads_.assign(grads.begin(), grads.end());
    return opt.apply(net.params(), update_grads_, weight_mask_, stats.count, sequences);
  }
  bool parameters_finite(const Network& net) override {
    for (float w : net.params())
      if (!std::isfinite(w)) return false;
    return true;
  }

 private:
  struct LayerWork {
    AlignedFloats acts;  // [T,B,G] pre-activations, then gate activations i,f,g,o
    AlignedFloats cs;    // [T+1,B,H] cell states, row block 0 = initial state
    AlignedFloats hs;    // [T+1,B,H] hidden states, row block 0 = initial state
    AlignedFloats tcs;   // [T,B,H] tanh(c_t)
    AlignedFloats dG;    // [T,B,G] gradients of z
    AlignedFloats dH;    // [T,B,H] gradient arriving at h_t from above (output or dX)
    AlignedFloats dh;    // [B,H] recurrent gradient on h_{t-1}
    AlignedFloats dc;    // [B,H] gradient on c
    AlignedFloats xd;    // [T,B,H] h_1..h_T times the output-dropout mask (dropout only)
    AlignedFloats hr;    // [T,B,H] h_0..h_{T-1} times the recurrent-dropout mask (dropout only)
  };
  // One thread's share: hidden units [u0,u1) (n of them) and rows [r0,r1) of T*B.
  struct Part {
    int tid, u0, u1, n, r0, r1;
  };

  // Forward (and backward when `backward`) of one segment from `state`, which is left
  // holding the segment's final state; per-thread loss parts in loss_part / count_part.
  void compute(const Network& net, const Batch& seg, State& state, int bwd, bool backward);
  void resize_workspaces(int T, int B, bool backward);
  // The phases, run by every thread of the team between barriers.
  void forward(const Part& pt);
  void output_loss(const Part& pt, bool backward);
  void backward_output(const Part& pt);
  void backward_layers(const Part& pt);
  // Layer l's output as fed upwards: h_1..h_T, or its dropped-out copy.
  const float* layer_out(int l) const {
    return drop_.output.empty() ? work[l].hs.data() + static_cast<std::size_t>(B) * H
                                : work[l].xd.data();
  }
  const float* top_hs() const { return layer_out(NL - 1); }
  // h_0..h_{T-1} of layer l as fed to R: the states, or their dropped-out copy.
  const float* layer_rec(int l) const {
    return drop_.recurrent.empty() ? work[l].hs.data() : work[l].hr.data();
  }
  // Own units [u0, u0+n) of step t's h_{t-1} as fed to R: h_t block times the layer's mask.
  void mask_recurrent(int l, int t, int u0, int n) {
    mat(work[l].hr.data() + static_cast<std::size_t>(t) * B * H + u0, B, n, H) =
        cmat(work[l].hs.data() + static_cast<std::size_t>(t) * B * H + u0, B, n, H)
            .cwiseProduct(
                cmat(drop_.recurrent.data() + static_cast<std::size_t>(l) * B * H + u0, B, n, H));
  }
  // Layer l's output-dropout mask of rows [r0, ...), [T*B,H] per layer.
  const float* out_mask(int l, int r0) const {
    return drop_.output.data() + (static_cast<std::size_t>(l) * TB + r0) * H;
  }

  cpu::ThreadTeam team_;
  std::vector<std::uint8_t> weight_mask_;
  State carried_, scratch_;
  DropoutMasks drop_;  // the segment's masks (empty spans: off)
  AlignedFloats grads;
  AlignedFloats update_grads_;  // apply_gradient's scaled copy (grads stay the summed gradient)
  std::vector<LayerWork> work;
  AlignedFloats probs;                 // [T,B,V] logits -> probabilities -> dlogits
  std::vector<AlignedFloats> packedR;  // per thread and layer: R's own columns [H, 4n]
  std::vector<AlignedFloats> tmp;      // per thread [B, 4n]
  std::vector<double> loss_part, count_part;
  // The segment being computed (set by compute for the phases).
  const float* P = nullptr;
  const ParamLayout* layout_ = nullptr;
  const Batch* seg_ = nullptr;
  int NL = 0, H = 0, G = 0, V = 0, T = 0, B = 0, TB = 0, nt = 1, t0 = 0;
};

void CpuTrainBackend::resize_workspaces(int T_, int B_, bool backward) {
  const int TBn = T_ * B_;
  work.resize(NL);
  for (auto& w : work) {
    w.acts.resize(static_cast<std::size_t>(TBn) * G);
    w.cs.resize(static_cast<std::size_t>(TBn + B_) * H);
    w.hs.resize(static_cast<std::size_t>(TBn + B_) * H);
    w.tcs.resize(static_cast<std::size_t>(TBn) * H);
    if (!drop_.output.empty()) w.xd.resize(static_cast<std::size_t>(TBn) * H);
    if (!drop_.recurrent.empty()) w.hr.resize(static_cast<std::size_t>(TBn) * H);
    if (backward) {
      w.dG.resize(static_cast<std::size_t>(TBn) * G);
      w.dH.resize(static_cast<std::size_t>(TBn) * H);
      w.dh.resize(static_cast<std::size_t>(B_) * H);
      w.dc.resize(static_cast<std::size_t>(B_) * H);
    }
  }
  probs.resize(static_cast<std::size_t>(TBn) * V);
  packedR.resize(static_cast<std::size_t>(nt) * NL);
  tmp.resize(nt);
  loss_part.assign(nt, 0.0);
  count_part.assign(nt, 0.0);
}

void CpuTrainBackend::compute(const Network& net, const Batch& seg, State& state, int bwd,
                              bool backward) {
  const auto& cfg = net.config();
  layout_ = &net.layout();
  seg_ = &seg;
  NL = cfg.layers, H = cfg.hidden, G = 4 * H, V = cfg.vocab;
  T = seg.T, B = seg.B, TB = T * B;
  nt = team_.size();
  if (bwd <= 0 || bwd > T) bwd = T;
  t0 = T - bwd;
  P = net.params().data();

  resize_workspaces(T, B, backward);
  for (int l = 0; l < NL; ++l) {
    std::copy(state.h[l].begin(), state.h[l].end(), work[l].hs.begin());
    std::copy(state.c[l].begin(), state.c[l].end(), work[l].cs.begin());
  }
  if (backward) grads.resize(layout_->total);

  team_.run([&](int tid) {
    Part pt{tid, 0, 0, 0, 0, 0};
    cpu::split_range(H, nt, tid, kUnitAlign, pt.u0, pt.u1);
    pt.n = pt.u1 - pt.u0;
    cpu::split_range(TB, nt, tid, 1, pt.r0, pt.r1);
    tmp[tid].resize(static_cast<std::size_t>(B) * 4 * pt.n);
    forward(pt);
    output_loss(pt, backward);
    if (!backward) return;
    team_.barrier();
    backward_output(pt);
    team_.barrier();
    backward_layers(pt);
  });

  for (int l = 0; l < NL; ++l) {
    const std::size_t off = static_cast<std::size_t>(TB) * H;
    std::copy_n(work[l].hs.begin() + off, static_cast<std::size_t>(B) * H, state.h[l].begin());
    std::copy_n(work[l].cs.begin() + off, static_cast<std::size_t>(B) * H, state.c[l].begin());
  }
}

// Per layer: the input projection for own columns over all T*B rows, then per step the
// recurrent GEMM against the packed own columns of R and the fused cell.
void CpuTrainBackend::forward(const Part& pt) {
  // Locals, not members, in the loops below (no reload through `this` after stores).
  [[maybe_unused]] const int NL = this->NL, H = this->H, G = this->G, V = this->V, T = this->T,
                             B = this->B, TB = this->TB, nt = this->nt, t0 = this->t0;
  const float* const P = this->P;
  const ParamLayout& L = *layout_;
  const Batch& seg = *seg_;
  auto& team = team_;
  const int u0 = pt.u0, u1 = pt.u1, n = pt.n;
  auto& tm = tmp[pt.tid];
  for (int l = 0; l < NL; ++l) {
    const auto& ly = L.layers[l];
    auto& w = work[l];
    const float* W = P + ly.W;
    const float* R = P + ly.R;
    const float* bias = P + ly.b;
    const float* p = ly.peepholes ? P + ly.p : nullptr;
    auto& pr = packedR[pt.tid * NL + l];
    pr.resize(static_cast<std::size_t>(H) * 4 * n);
    if (n > 0) {
      for (int q = 0; q < 4; ++q) {
        mat(pr.data() + q * n, H, n, 4 * n) = cmat(R + q * H + u0, H, n, G);
        // input projection for own columns over all T*B rows
        auto Z = mat(w.acts.data() + q * H + u0, TB, n, G);
        const ConstRowVecMap bq(bias + q * H + u0, n);
        if (l == 0) {
          for (int r = 0; r < TB; ++r)
            Z.row(r) =
                ConstRowVecMap(W + static_cast<std::size_t>(seg.inputs[r]) * G + q * H + u0, n) +
                bq;
        } else {
          Z.noalias() = cmat(layer_out(l - 1), TB, H, H) * cmat(W + q * H + u0, H, n, G);
          Z.rowwise() += bq;
        }
      }
    }
    const bool rec = !drop_.recurrent.empty();
    if (rec) {
      if (n > 0) mask_recurrent(l, 0, u0, n);
      team.barrier();
    }
    const float* hin = layer_rec(l);
    for (int t = 0; t < T; ++t) {
      if (n > 0) {
        auto Zt = mat(tm.data(), B, 4 * n, 4 * n);
        Zt.noalias() = cmat(hin + static_cast<std::size_t>(t) * B * H, B, H, H) *
                       cmat(pr.data(), H, 4 * n, 4 * n);
        for (int q = 0; q < 4; ++q)
          mat(w.acts.data() + static_cast<std::size_t>(t) * B * G + q * H + u0, B, n, G) +=
              cmat(tm.data() + q * n, B, n, 4 * n);
        for (int b = 0; b < B; ++b) {
          const std::size_t r = static_cast<std::size_t>(t) * B + b;
          cpu::cell_forward(w.acts.data() + r * G, w.cs.data() + r * H, w.cs.data() + (r + B) * H,
                            w.hs.data() + (r + B) * H, w.tcs.data() + r * H, p, H, u0, u1);
        }
        if (rec && t + 1 < T) mask_recurrent(l, t + 1, u0, n);
      }
      team.barrier();
    }
    if (!drop_.output.empty()) {
      // own units of the layer's output times the mask, for the layer above / output layer
      if (n > 0)
        mat(w.xd.data() + u0, TB, n, H) =
            cmat(w.hs.data() + static_cast<std::size_t>(B) * H + u0, TB, n, H)
                .cwiseProduct(cmat(out_mask(l, 0) + u0, TB, n, H));
      team.barrier();
    }
  }
}

// The output layer over own rows, softmax cross-entropy, and (backward) the gradient of the
// summed loss with respect to the logits inside the backward window.
void CpuTrainBackend::output_loss(const Part& pt, bool backward) {
  // Locals, not members, in the loops below (no reload through `this` after stores).
  [[maybe_unused]] const int NL = this->NL, H = this->H, G = this->G, V = this->V, T = this->T,
                             B = this->B, TB = this->TB, nt = this->nt, t0 = this->t0;
  const float* const P = this->P;
  const ParamLayout& L = *layout_;
  const Batch& seg = *seg_;
  const int r0 = pt.r0, r1 = pt.r1;
  const float* Wy = P + L.Wy;
  const float* by = P + L.by;
  const float* Htop = top_hs();
  double loss = 0, count = 0;
  if (r1 > r0) {
    auto Z = mat(probs.data() + static_cast<std::size_t>(r0) * V, r1 - r0, V, V);
    Z.noalias() = cmat(Htop + static_cast<std::size_t>(r0) * H, r1 - r0, H, H) * cmat(Wy, H, V, V);
    Z.rowwise() += ConstRowVecMap(by, V);
    for (int r = r0; r < r1; ++r) {
      auto z = RowVecMap(probs.data() + static_cast<std::size_t>(r) * V, V);
      const float mx = z.maxCoeff();
      z.array() = (z.array() - mx).exp();
      const float sum = z.sum();
      z /= sum;
      const float m = seg.mask.empty() ? 1.0f : seg.mask[r];
      const int y = seg.targets[r];
      if (m != 0.0f) {
        loss += static_cast<double>(m) * -std::log(std::max(z[y], 1e-30f));
        count += m;
      }
      if (backward) {
        // d(sum CE)/dz = m * (softmax - onehot), inside the backward window only
        if (r >= t0 * B && m != 0.0f) {
          z[y] -= 1.0f;
          z *= m;
        } else {
          z.setZero();
        }
      }
    }
  }
  loss_part[pt.tid] = loss;
  count_part[pt.tid] = count;
}

// dWy, dby over own units / symbols, and dH of the top layer over own rows.
void CpuTrainBackend::backward_output(const Part& pt) {
  // Locals, not members, in the loops below (no reload through `this` after stores).
  [[maybe_unused]] const int NL = this->NL, H = this->H, G = this->G, V = this->V, T = this->T,
                             B = this->B, TB = this->TB, nt = this->nt, t0 = this->t0;
  const float* const P = this->P;
  const ParamLayout& L = *layout_;
  const float* Wy = P + L.Wy;
  const float* Htop = top_hs();
  {
    const int wr0 = t0 * B, nw = TB - wr0;  // window rows
    int k0, k1;
    cpu::split_range(H, nt, pt.tid, kUnitAlign, k0, k1);
    if (k1 > k0)
      mat(grads.data() + L.Wy + static_cast<std::size_t>(k0) * V, k1 - k0, V, V).noalias() =
          cmat(Htop + static_cast<std::size_t>(wr0) * H + k0, nw, k1 - k0, H).transpose() *
          cmat(probs.data() + static_cast<std::size_t>(wr0) * V, nw, V, V);
    int v0, v1;
    cpu::split_range(V, nt, pt.tid, 1, v0, v1);
    if (v1 > v0)
      RowVecMap(grads.data() + L.by + v0, v1 - v0) =
          cmat(probs.data() + static_cast<std::size_t>(wr0) * V + v0, nw, v1 - v0, V)
              .colwise()
              .sum();
    auto& dH = work[NL - 1].dH;
    if (pt.r1 > pt.r0) {
      const int r0 = pt.r0, r1 = pt.r1;
      mat(dH.data() + static_cast<std::size_t>(r0) * H, r1 - r0, H, H).noalias() =
          cmat(probs.data() + static_cast<std::size_t>(r0) * V, r1 - r0, V, V) *
          cmat(Wy, H, V, V).transpose();
      if (!drop_.output.empty())
        mat(dH.data() + static_cast<std::size_t>(r0) * H, r1 - r0, H, H).array() *=
            cmat(out_mask(NL - 1, r0), r1 - r0, H, H).array();
    }
  }
}

// The LSTM layers, top to bottom: per step the backward cell over own units, then the
// recurrent gradient; the weight gradients over the window; dX for the layer below.
void CpuTrainBackend::backward_layers(const Part& pt) {
  // Locals, not members, in the loops below (no reload through `this` after stores).
  [[maybe_unused]] const int NL = this->NL, H = this->H, G = this->G, V = this->V, T = this->T,
                             B = this->B, TB = this->TB, nt = this->nt, t0 = this->t0;
  const float* const P = this->P;
  const ParamLayout& L = *layout_;
  const Batch& seg = *seg_;
  auto& team = team_;
  const int u0 = pt.u0, u1 = pt.u1, n = pt.n, r0 = pt.r0, r1 = pt.r1;
  for (int l = NL - 1; l >= 0; --l) {
    const auto& ly = L.layers[l];
    auto& w = work[l];
    const float* R = P + ly.R;
    const float* p = ly.peepholes ? P + ly.p : nullptr;
    float* dp = ly.peepholes ? grads.data() + ly.p : nullptr;
    if (n > 0) {
      mat(w.dh.data() + u0, B, n, H).setZero();
      mat(w.dc.data() + u0, B, n, H).setZero();
      if (dp)
        for (int q = 0; q < 3; ++q) std::fill_n(dp + q * H + u0, n, 0.0f);
    }
    for (int t = T - 1; t >= t0; --t) {
      if (n > 0) {
        for (int b = 0; b < B; ++b) {
          const std::size_t r = static_cast<std::size_t>(t) * B + b;
          float* dht = w.dH.data() + r * H;
          RowVecMap(dht + u0, n) += ConstRowVecMap(w.dh.data() + b * H + u0, n);
          cpu::cell_backward(w.acts.data() + r * G, w.cs.data() + r * H, w.cs.data() + (r + B) * H,
                             w.tcs.data() + r * H, dht, w.dc.data() + b * H, w.dG.data() + r * G, p,
                             dp, H, u0, u1);
        }
      }
      team.barrier();  // dG[t] complete for all units
      if (n > 0 && t > t0) {
        mat(w.dh.data() + u0, B, n, H).noalias() =
            cmat(w.dG.data() + static_cast<std::size_t>(t) * B * G, B, G, G) *
            cmat(R + static_cast<std::size_t>(u0) * G, n, G, G).transpose();
        if (!drop_.recurrent.empty())
          mat(w.dh.data() + u0, B, n, H).array() *=
              cmat(drop_.recurrent.data() + static_cast<std::size_t>(l) * B * H + u0, B, n, H)
                  .array();
      }
    }
    // weight gradients over the window, own columns
    const int wr0 = t0 * B, nw = TB - wr0;
    if (n > 0) {
      for (int q = 0; q < 4; ++q) {
        const int col = q * H + u0;
        auto dGq = cmat(w.dG.data() + static_cast<std::size_t>(wr0) * G + col, nw, n, G);
        mat(grads.data() + ly.R + col, H, n, G).noalias() =
            cmat(layer_rec(l) + static_cast<std::size_t>(wr0) * H, nw, H, H).transpose() * dGq;
        RowVecMap(grads.data() + ly.b + col, n) = dGq.colwise().sum();
        if (l == 0) {
          auto dW = mat(grads.data() + ly.W + col, ly.input, n, G);
          dW.setZero();
          for (int r = wr0; r < TB; ++r)
            dW.row(seg.inputs[r]) +=
                ConstRowVecMap(w.dG.data() + static_cast<std::size_t>(r) * G + col, n);
        } else {
          mat(grads.data() + ly.W + col, ly.input, n, G).noalias() =
              cmat(layer_out(l - 1) + static_cast<std::size_t>(wr0) * H, nw, ly.input, ly.input)
                  .transpose() *
              dGq;
        }
      }
    }
    if (l > 0) {
      // dX for the layer below: rows split; rows before the window get no gradient
      auto& dHb = work[l - 1].dH;
      const int I = ly.input;
      if (r1 > r0) {
        const int a = std::max(r0, wr0);
        if (a > r0)
          mat(dHb.data() + static_cast<std::size_t>(r0) * I, std::min(a, r1) - r0, I, I).setZero();
        if (r1 > a) {
          mat(dHb.data() + static_cast<std::size_t>(a) * I, r1 - a, I, I).noalias() =
              cmat(w.dG.data() + static_cast<std::size_t>(a) * G, r1 - a, G, G) *
              cmat(P + ly.W, I, G, G).transpose();
          if (!drop_.output.empty())
            mat(dHb.data() + static_cast<std::size_t>(a) * I, r1 - a, I, I).array() *=
                cmat(out_mask(l - 1, a), r1 - a, I, I).array();
        }
      }
      team.barrier();
    }
  }
}

}  // namespace

std::unique_ptr<TrainBackend> make_cpu_backend(const Network& net,
                                               std::span<const std::uint8_t> weight_mask) {
  return std::make_unique<CpuTrainBackend>(net.execution().resolved_threads(), weight_mask);
}

}  // namespace melodl::lstm
