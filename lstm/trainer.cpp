// lstm/trainer.cpp: truncated-BPTT training on the CPU (Eigen GEMMs + fused pointwise cell,
// lstm/cpu/cell.h), split over a ThreadTeam by hidden units: thread k owns units [u0,u1) of
// every layer, i.e. the columns qH+u0..qH+u1 of all four gate blocks, for the input
// projection, the per-step recurrent GEMM, the cell, the backward cell and the weight
// gradients; row ranges for the output layer and dX. One barrier per time step.
// Spec: lstm/ref.h. Tests: tests/lstm/backend_test.cpp, trainer_test.cpp.
// On device "cuda" the Trainer drives lstm/cuda/backend.h instead (Trainer::DeviceImpl below:
// the device trainer plus which copy of gradient, slots and carried state is newer).
#include "lstm/trainer.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "lstm/cpu/cell.h"
#include "lstm/cpu/thread_team.h"
#include "lstm/cuda/backend.h"

namespace melodl::lstm {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using MatMap = Eigen::Map<RowMat, 0, Stride>;
using ConstMatMap = Eigen::Map<const RowMat, 0, Stride>;
using RowVecMap = Eigen::Map<Eigen::RowVectorXf>;
using ConstRowVecMap = Eigen::Map<const Eigen::RowVectorXf>;

// Row-major [rows, cols] view of p with row stride ld.
MatMap mat(float* p, Eigen::Index rows, Eigen::Index cols, Eigen::Index ld) {
  return MatMap(p, rows, cols, Stride(ld));
}
ConstMatMap cmat(const float* p, Eigen::Index rows, Eigen::Index cols, Eigen::Index ld) {
  return ConstMatMap(p, rows, cols, Stride(ld));
}

constexpr int kUnitAlign = 8;  // unit ranges per thread are multiples of 8 floats (AVX2)

}  // namespace

// ---- TrainConfig ------------------------------------------------------------------------

void TrainConfig::validate() const {
  optimizer.validate();
  auto fail = [](const std::string& field, const std::string& what, int got) {
    throw InvalidArgument("[TrainConfig::validate] " + field + " " + what + ", got " +
                          std::to_string(got));
  };
  if (tbptt_fwd < 0) fail("tbptt_fwd", "must be >= 0 (0 = whole sequence)", tbptt_fwd);
  if (tbptt_bwd < 0) fail("tbptt_bwd", "must be >= 0 (0 = tbptt_fwd)", tbptt_bwd);
  if (tbptt_fwd > 0 && tbptt_bwd > tbptt_fwd)
    fail("tbptt_bwd", "must be <= tbptt_fwd (" + std::to_string(tbptt_fwd) + ")", tbptt_bwd);
}

std::string TrainConfig::to_json() const {
  nlohmann::json j;
  j["optimizer"] = to_string(optimizer.kind);
  j["lr"] = optimizer.lr;
  j["momentum"] = optimizer.momentum;
  j["beta1"] = optimizer.beta1;
  j["beta2"] = optimizer.beta2;
  j["rms_decay"] = optimizer.rms_decay;
  j["eps"] = optimizer.eps;
  j["l2"] = optimizer.l2;
  j["clip_norm"] = optimizer.clip_norm;
  j["tbptt_fwd"] = tbptt_fwd;
  j["tbptt_bwd"] = tbptt_bwd;
  j["reset_state_per_batch"] = reset_state_per_batch;
  j["seed"] = seed;
  return j.dump();
}

TrainConfig TrainConfig::from_json(const std::string& text) {
  TrainConfig c;
  try {
    const auto j = nlohmann::json::parse(text);
    c.optimizer.kind = optimizer_kind_from_string(j.at("optimizer").get<std::string>());
    c.optimizer.lr = j.at("lr").get<float>();
    c.optimizer.momentum = j.at("momentum").get<float>();
    c.optimizer.beta1 = j.at("beta1").get<float>();
    c.optimizer.beta2 = j.at("beta2").get<float>();
    c.optimizer.rms_decay = j.at("rms_decay").get<float>();
    c.optimizer.eps = j.at("eps").get<float>();
    c.optimizer.l2 = j.at("l2").get<float>();
    c.optimizer.clip_norm = j.at("clip_norm").get<float>();
    c.tbptt_fwd = j.at("tbptt_fwd").get<int>();
    c.tbptt_bwd = j.at("tbptt_bwd").get<int>();
    c.reset_state_per_batch = j.at("reset_state_per_batch").get<bool>();
    c.seed = j.at("seed").get<std::uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(std::string("[TrainConfig::from_json] bad training config JSON: ") +
                          e.what());
  }
  return c;
}

TrainConfig TrainConfig::melody_modeling_example() {
  TrainConfig c;
  c.optimizer.kind = OptimizerKind::dl4j_rmsprop;
  c.optimizer.lr = 0.1f;
  c.optimizer.rms_decay = 0.95f;
  c.optimizer.eps = 1e-8f;
  c.optimizer.l2 = 0.001f;
  c.tbptt_fwd = 50;
  c.tbptt_bwd = 50;
  c.reset_state_per_batch = true;
  c.seed = 12345;
  return c;
}

NetworkConfig melody_modeling_network(int vocab) {
  NetworkConfig c;
  c.vocab = vocab;
  c.layers = 2;
  c.hidden = 200;
  c.peepholes = true;
  c.forget_bias_init = 1.0f;
  c.seed = 12345;
  return c;
}

// ---- Impl: workspaces and the backend ----------------------------------------------------

struct Trainer::Impl {
  explicit Impl(int threads) : team(threads) {}

  struct LayerWork {
    AlignedFloats acts;  // [T,B,G] pre-activations, then gate activations i,f,g,o
    AlignedFloats cs;    // [T+1,B,H] cell states, row block 0 = initial state
    AlignedFloats hs;    // [T+1,B,H] hidden states, row block 0 = initial state
    AlignedFloats tcs;   // [T,B,H] tanh(c_t)
    AlignedFloats dG;    // [T,B,G] gradients of z
    AlignedFloats dH;    // [T,B,H] gradient arriving at h_t from above (output or dX)
    AlignedFloats dh;    // [B,H] recurrent gradient on h_{t-1}
    AlignedFloats dc;    // [B,H] gradient on c
  };

  cpu::ThreadTeam team;
  AlignedFloats grads;
  AlignedFloats update_grads;  // apply_update's scaled copy (grads stay the summed gradient)
  std::vector<std::uint8_t> weight_mask;
  std::vector<LayerWork> work;
  AlignedFloats probs;                 // [T,B,V] logits -> probabilities -> dlogits
  std::vector<AlignedFloats> packedR;  // per thread and layer: R's own columns [H, 4n]
  std::vector<AlignedFloats> tmp;      // per thread [B, 4n]
  std::vector<double> loss_part, count_part;

  void compute(const Network& net, const Batch& seg, State& state, int bwd, bool backward);
};

void Trainer::Impl::compute(const Network& net, const Batch& seg, State& state, int bwd,
                            bool backward) {
  const auto& cfg = net.config();
  const auto& L = net.layout();
  const int NL = cfg.layers, H = cfg.hidden, G = 4 * H, V = cfg.vocab;
  const int T = seg.T, B = seg.B, TB = T * B;
  const int nt = team.size();
  if (bwd <= 0 || bwd > T) bwd = T;
  const int t0 = T - bwd;
  const float* P = net.params().data();

  work.resize(NL);
  for (auto& w : work) {
    w.acts.resize(static_cast<std::size_t>(TB) * G);
    w.cs.resize(static_cast<std::size_t>(TB + B) * H);
    w.hs.resize(static_cast<std::size_t>(TB + B) * H);
    w.tcs.resize(static_cast<std::size_t>(TB) * H);
    if (backward) {
      w.dG.resize(static_cast<std::size_t>(TB) * G);
      w.dH.resize(static_cast<std::size_t>(TB) * H);
      w.dh.resize(static_cast<std::size_t>(B) * H);
      w.dc.resize(static_cast<std::size_t>(B) * H);
    }
  }
  for (int l = 0; l < NL; ++l) {
    std::copy(state.h[l].begin(), state.h[l].end(), work[l].hs.begin());
    std::copy(state.c[l].begin(), state.c[l].end(), work[l].cs.begin());
  }
  probs.resize(static_cast<std::size_t>(TB) * V);
  packedR.resize(static_cast<std::size_t>(nt) * NL);
  tmp.resize(nt);
  loss_part.assign(nt, 0.0);
  count_part.assign(nt, 0.0);
  if (backward) grads.resize(L.total);

  team.run([&](int tid) {
    int u0, u1;
    cpu::split_range(H, nt, tid, kUnitAlign, u0, u1);
    const int n = u1 - u0;
    auto& tm = tmp[tid];
    tm.resize(static_cast<std::size_t>(B) * 4 * n);

    // ---------------- forward ----------------
    for (int l = 0; l < NL; ++l) {
      const auto& ly = L.layers[l];
      auto& w = work[l];
      const float* W = P + ly.W;
      const float* R = P + ly.R;
      const float* bias = P + ly.b;
      const float* p = ly.peepholes ? P + ly.p : nullptr;
      auto& pr = packedR[tid * NL + l];
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
            Z.noalias() = cmat(work[l - 1].hs.data() + static_cast<std::size_t>(B) * H, TB, H, H) *
                          cmat(W + q * H + u0, H, n, G);
            Z.rowwise() += bq;
          }
        }
      }
      for (int t = 0; t < T; ++t) {
        if (n > 0) {
          auto Zt = mat(tm.data(), B, 4 * n, 4 * n);
          Zt.noalias() = cmat(w.hs.data() + static_cast<std::size_t>(t) * B * H, B, H, H) *
                         cmat(pr.data(), H, 4 * n, 4 * n);
          for (int q = 0; q < 4; ++q)
            mat(w.acts.data() + static_cast<std::size_t>(t) * B * G + q * H + u0, B, n, G) +=
                cmat(tm.data() + q * n, B, n, 4 * n);
          for (int b = 0; b < B; ++b) {
            const std::size_t r = static_cast<std::size_t>(t) * B + b;
            cpu::cell_forward(w.acts.data() + r * G, w.cs.data() + r * H, w.cs.data() + (r + B) * H,
                              w.hs.data() + (r + B) * H, w.tcs.data() + r * H, p, H, u0, u1);
          }
        }
        team.barrier();
      }
    }

    // ---------------- output layer, loss ----------------
    int r0, r1;
    cpu::split_range(TB, nt, tid, 1, r0, r1);
    const float* Wy = P + L.Wy;
    const float* by = P + L.by;
    const float* Htop = work[NL - 1].hs.data() + static_cast<std::size_t>(B) * H;
    double loss = 0, count = 0;
    if (r1 > r0) {
      auto Z = mat(probs.data() + static_cast<std::size_t>(r0) * V, r1 - r0, V, V);
      Z.noalias() =
          cmat(Htop + static_cast<std::size_t>(r0) * H, r1 - r0, H, H) * cmat(Wy, H, V, V);
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
    loss_part[tid] = loss;
    count_part[tid] = count;
    if (!backward) return;
    team.barrier();

    // ---------------- backward: output layer ----------------
    {
      const int wr0 = t0 * B, nw = TB - wr0;  // window rows
      int k0, k1;
      cpu::split_range(H, nt, tid, kUnitAlign, k0, k1);
      if (k1 > k0)
        mat(grads.data() + L.Wy + static_cast<std::size_t>(k0) * V, k1 - k0, V, V).noalias() =
            cmat(Htop + static_cast<std::size_t>(wr0) * H + k0, nw, k1 - k0, H).transpose() *
            cmat(probs.data() + static_cast<std::size_t>(wr0) * V, nw, V, V);
      int v0, v1;
      cpu::split_range(V, nt, tid, 1, v0, v1);
      if (v1 > v0)
        RowVecMap(grads.data() + L.by + v0, v1 - v0) =
            cmat(probs.data() + static_cast<std::size_t>(wr0) * V + v0, nw, v1 - v0, V)
                .colwise()
                .sum();
      auto& dH = work[NL - 1].dH;
      if (r1 > r0) {
        mat(dH.data() + static_cast<std::size_t>(r0) * H, r1 - r0, H, H).noalias() =
            cmat(probs.data() + static_cast<std::size_t>(r0) * V, r1 - r0, V, V) *
            cmat(Wy, H, V, V).transpose();
      }
    }
    team.barrier();

    // ---------------- backward: LSTM layers, top to bottom ----------------
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
            cpu::cell_backward(w.acts.data() + r * G, w.cs.data() + r * H,
                               w.cs.data() + (r + B) * H, w.tcs.data() + r * H, dht,
                               w.dc.data() + b * H, w.dG.data() + r * G, p, dp, H, u0, u1);
          }
        }
        team.barrier();  // dG[t] complete for all units
        if (n > 0 && t > t0) {
          mat(w.dh.data() + u0, B, n, H).noalias() =
              cmat(w.dG.data() + static_cast<std::size_t>(t) * B * G, B, G, G) *
              cmat(R + static_cast<std::size_t>(u0) * G, n, G, G).transpose();
        }
      }
      // weight gradients over the window, own columns
      const int wr0 = t0 * B, nw = TB - wr0;
      if (n > 0) {
        for (int q = 0; q < 4; ++q) {
          const int col = q * H + u0;
          auto dGq = cmat(w.dG.data() + static_cast<std::size_t>(wr0) * G + col, nw, n, G);
          mat(grads.data() + ly.R + col, H, n, G).noalias() =
              cmat(w.hs.data() + static_cast<std::size_t>(wr0) * H, nw, H, H).transpose() * dGq;
          RowVecMap(grads.data() + ly.b + col, n) = dGq.colwise().sum();
          if (l == 0) {
            auto dW = mat(grads.data() + ly.W + col, ly.input, n, G);
            dW.setZero();
            for (int r = wr0; r < TB; ++r)
              dW.row(seg.inputs[r]) +=
                  ConstRowVecMap(w.dG.data() + static_cast<std::size_t>(r) * G + col, n);
          } else {
            mat(grads.data() + ly.W + col, ly.input, n, G).noalias() =
                cmat(work[l - 1].hs.data() + static_cast<std::size_t>(B + wr0) * H, nw, ly.input,
                     ly.input)
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
            mat(dHb.data() + static_cast<std::size_t>(r0) * I, std::min(a, r1) - r0, I, I)
                .setZero();
          if (r1 > a)
            mat(dHb.data() + static_cast<std::size_t>(a) * I, r1 - a, I, I).noalias() =
                cmat(w.dG.data() + static_cast<std::size_t>(a) * G, r1 - a, G, G) *
                cmat(P + ly.W, I, G, G).transpose();
        }
        team.barrier();
      }
    }
  });

  for (int l = 0; l < NL; ++l) {
    const std::size_t off = static_cast<std::size_t>(TB) * H;
    std::copy_n(work[l].hs.begin() + off, static_cast<std::size_t>(B) * H, state.h[l].begin());
    std::copy_n(work[l].cs.begin() + off, static_cast<std::size_t>(B) * H, state.c[l].begin());
  }
}

// ---- Trainer ----------------------------------------------------------------------------

// Which copy of a mirrored buffer is newer (none: both equal, or nothing computed yet).
enum class Newer { none, host, device };

struct Trainer::DeviceImpl {
  std::unique_ptr<cudabk::DeviceTrainer> dt;
  AlignedFloats grads;  // host mirror of the device gradient
  bool have_grads = false;
  Newer grads_newer = Newer::none, slots_newer = Newer::none, carried_newer = Newer::host;

  // The network's DeviceNet with the parameters current on the device.
  static cudabk::DeviceNet& net(const Network& n) {
    MELODL_CHECK(n.device_ != nullptr,
                 "[Trainer] the trainer runs on \"cuda\" but its network was replaced by one on "
                 "the CPU");
    auto& d = *n.device_;
    if (d.device_stale) {
      d.net.upload_params(n.params_.data());
      d.device_stale = false;
    }
    return d.net;
  }
  static void params_written(const Network& n) { n.device_->host_stale = true; }

  void sync_host_grads(const Network& n) {
    if (grads_newer != Newer::device) return;
    grads.resize(n.num_params());
    dt->download_grads(net(n), grads.data());
    grads_newer = Newer::none;
  }
  void sync_device_grads(const Network& n) {
    if (grads_newer != Newer::host) return;
    dt->upload_grads(net(n), grads.data());
    grads_newer = Newer::none;
  }
  void sync_host_slots(const Network& n, Optimizer& opt) {
    if (slots_newer != Newer::device) return;
    dt->download_slots(net(n), opt.slots());
    slots_newer = Newer::none;
  }
  void sync_device_slots(const Network& n, const Optimizer& opt) {
    if (slots_newer != Newer::host) return;
    dt->upload_slots(net(n), opt.slots());
    slots_newer = Newer::none;
  }
  void sync_host_carried(const Network& n, State& carried) {
    if (carried_newer != Newer::device) return;
    dt->download_state(net(n), cudabk::StateSlot::carried, carried);
    carried_newer = Newer::none;
  }
};

Trainer::Trainer(Network network, const TrainConfig& config)
    : network_(std::move(network)),
      config_(config),
      optimizer_((config.validate(), config.optimizer), network_.num_params()),
      rng_(config.seed) {
  std::vector<std::uint8_t> mask(network_.num_params(), 0);
  for (const auto& t : network_.layout().tensors)
    if (t.is_weight) std::fill_n(mask.begin() + t.offset, t.size(), 1);
  if (network_.device_) {
    dev_ = std::make_unique<DeviceImpl>();
    auto& dn = DeviceImpl::net(network_);
    dev_->dt = std::make_unique<cudabk::DeviceTrainer>(dn, config_.optimizer, mask);
    dev_->dt->upload_slots(dn, optimizer_.slots());
  } else {
    impl_ = std::make_unique<Impl>(network_.execution().resolved_threads());
    impl_->weight_mask = std::move(mask);
  }
}

Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;

std::span<const float> Trainer::gradients() const {
  if (dev_) {
    dev_->sync_host_grads(network_);
    return dev_->grads;
  }
  return impl_->grads;
}

std::span<float> Trainer::mutable_gradients() {
  if (dev_) {
    dev_->sync_host_grads(network_);
    if (dev_->have_grads) dev_->grads_newer = Newer::host;
    return dev_->grads;
  }
  return impl_->grads;
}

Optimizer& Trainer::optimizer() {
  if (dev_) {
    dev_->sync_host_slots(network_, optimizer_);
    dev_->slots_newer = Newer::host;
  }
  return optimizer_;
}

const Optimizer& Trainer::optimizer() const {
  if (dev_) dev_->sync_host_slots(network_, optimizer_);
  return optimizer_;
}

const State& Trainer::carried_state() const {
  if (dev_) dev_->sync_host_carried(network_, carried_);
  return carried_;
}

void Trainer::set_carried_state(State state) {
  carried_ = std::move(state);
  if (dev_) dev_->carried_newer = Newer::host;
}

namespace {

void check_batch(const Batch& b, const NetworkConfig& cfg, const char* where) {
  const std::string w = std::string("[") + where + "] ";
  MELODL_CHECK(b.T >= 1 && b.B >= 1, w + "batch must have T >= 1 and B >= 1, got T=" +
                                         std::to_string(b.T) + " B=" + std::to_string(b.B));
  const std::size_t n = static_cast<std::size_t>(b.T) * b.B;
  MELODL_CHECK(b.inputs.size() == n, w + "inputs must be [T,B] (" + std::to_string(n) +
                                         " values), got " + std::to_string(b.inputs.size()));
  MELODL_CHECK(b.targets.size() == n, w + "targets must be [T,B] (" + std::to_string(n) +
                                          " values), got " + std::to_string(b.targets.size()));
  MELODL_CHECK(b.mask.empty() || b.mask.size() == n, w + "mask must be empty or [T,B] (" +
                                                         std::to_string(n) + " values), got " +
                                                         std::to_string(b.mask.size()));
  for (std::size_t k = 0; k < n; ++k) {
    MELODL_CHECK(b.inputs[k] >= 0 && b.inputs[k] < cfg.vocab,
                 w + "input symbol " + std::to_string(b.inputs[k]) + " at " + std::to_string(k) +
                     " out of range [0," + std::to_string(cfg.vocab) + ")");
    MELODL_CHECK(b.targets[k] >= 0 && b.targets[k] < cfg.vocab,
                 w + "target symbol " + std::to_string(b.targets[k]) + " at " + std::to_string(k) +
                     " out of range [0," + std::to_string(cfg.vocab) + ")");
  }
}

Batch slice(const Batch& b, int t_begin, int t_end) {
  const std::size_t off = static_cast<std::size_t>(t_begin) * b.B;
  const std::size_t len = static_cast<std::size_t>(t_end - t_begin) * b.B;
  Batch s;
  s.T = t_end - t_begin;
  s.B = b.B;
  s.inputs = b.inputs.subspan(off, len);
  s.targets = b.targets.subspan(off, len);
  if (!b.mask.empty()) s.mask = b.mask.subspan(off, len);
  return s;
}

void check_state(const State& s, const NetworkConfig& cfg, int B, const char* where) {
  MELODL_CHECK(s.batch == B && static_cast<int>(s.h.size()) == cfg.layers &&
                   static_cast<int>(s.c.size()) == cfg.layers &&
                   s.h[0].size() == static_cast<std::size_t>(B) * cfg.hidden,
               std::string("[") + where + "] state must be " + std::to_string(cfg.layers) +
                   " layers of [B,H]=[" + std::to_string(B) + "," + std::to_string(cfg.hidden) +
                   "], got batch " + std::to_string(s.batch));
}

double mask_count(const Batch& b) {
  if (b.mask.empty()) return static_cast<double>(b.T) * b.B;
  double count = 0;
  for (float m : b.mask)
    if (m != 0.0f) count += m;
  return count;
}

}  // namespace

StepStats Trainer::device_segment(const Batch& segment, bool carried, int bwd, bool backward,
                                  bool update) {
  using cudabk::Scalar;
  auto& dn = DeviceImpl::net(network_);
  auto& dt = *dev_->dt;
  const auto slot = carried ? cudabk::StateSlot::carried : cudabk::StateSlot::scratch;
  dt.enqueue_segment(dn, segment, slot, bwd, backward);
  StepStats s;
  s.count = mask_count(segment);
  s.segments = 1;
  if (backward) {
    dev_->have_grads = true;
    dev_->grads_newer = Newer::device;
  }
  int runs = 0;
  if (update) {
    const auto& oc = optimizer_.config();
    if (oc.l2 > 0) runs = dt.enqueue_weight_sumsq(dn);
    dev_->sync_device_slots(network_, optimizer_);
    const bool dl4j = oc.kind == OptimizerKind::dl4j_rmsprop;
    const float scale = dl4j ? 1.0f : (s.count > 0 ? static_cast<float>(1.0 / s.count) : 0.0f);
    dt.enqueue_update(dn, oc, scale, oc.clip_norm, true, segment.B, optimizer_.steps() + 1);
    optimizer_.set_steps(optimizer_.steps() + 1);
    DeviceImpl::params_written(network_);
    dev_->slots_newer = Newer::device;
  }
  const std::vector<double> sc =
      dt.read_scalars(dn, update ? Scalar::kWeightSq + runs : Scalar::kLoss + 1);
  s.loss_sum = sc[Scalar::kLoss];
  if (update) {
    s.grad_norm = sc[Scalar::kNorm];
    double sq = 0;
    for (int k = 0; k < runs; ++k) sq += sc[Scalar::kWeightSq + k];
    s.score = optimizer_.config().l2 > 0
                  ? (s.loss_sum + 0.5 * optimizer_.config().l2 * sq) / segment.B
                  : s.loss_sum / segment.B;
  }
  return s;
}

StepStats Trainer::compute_gradients(const Batch& segment, State& state, int bwd) {
  check_batch(segment, network_.config(), "Trainer::compute_gradients");
  check_state(state, network_.config(), segment.B, "Trainer::compute_gradients");
  if (dev_) {
    auto& dn = DeviceImpl::net(network_);
    dev_->dt->upload_state(dn, cudabk::StateSlot::scratch, state);
    const StepStats s = device_segment(segment, false, bwd, true, false);
    dev_->dt->download_state(dn, cudabk::StateSlot::scratch, state);
    return s;
  }
  impl_->compute(network_, segment, state, bwd, true);
  StepStats s;
  for (int k = 0; k < impl_->team.size(); ++k) {
    s.loss_sum += impl_->loss_part[k];
    s.count += impl_->count_part[k];
  }
  s.segments = 1;
  return s;
}

StepStats Trainer::train_segment(const Batch& segment, State& state) {
  if (dev_) {
    check_batch(segment, network_.config(), "Trainer::train_segment");
    check_state(state, network_.config(), segment.B, "Trainer::train_segment");
    auto& dn = DeviceImpl::net(network_);
    dev_->dt->upload_state(dn, cudabk::StateSlot::scratch, state);
    const StepStats s = device_segment(segment, false, config_.tbptt_bwd, true, true);
    dev_->dt->download_state(dn, cudabk::StateSlot::scratch, state);
    return s;
  }
  StepStats s = compute_gradients(segment, state, config_.tbptt_bwd);
  const auto& mask = impl_->weight_mask;
  auto w = network_.params();
  if (config_.optimizer.l2 > 0) {
    double sq = 0;
    for (std::size_t k = 0; k < w.size(); ++k)
      if (mask[k]) sq += static_cast<double>(w[k]) * w[k];
    s.score = (s.loss_sum + 0.5 * config_.optimizer.l2 * sq) / segment.B;
  } else {
    s.score = s.loss_sum / segment.B;
  }
  s.grad_norm = optimizer_.apply(w, impl_->grads, mask, s.count, segment.B);
  return s;
}

StepStats Trainer::train_batch(const Batch& batch) {
  check_batch(batch, network_.config(), "Trainer::train_batch");
  const int seg = config_.tbptt_fwd > 0 ? config_.tbptt_fwd : batch.T;
  StepStats total;
  if (dev_) {
    // The carried state stays on the device between calls; carried_state() downloads it.
    auto& dn = DeviceImpl::net(network_);
    auto& dt = *dev_->dt;
    const int held = dev_->carried_newer == Newer::device
                         ? dt.state_batch(cudabk::StateSlot::carried)
                         : carried_.batch;
    if (config_.reset_state_per_batch || held != batch.B) {
      dt.zero_state(dn, cudabk::StateSlot::carried, batch.B);
    } else if (dev_->carried_newer == Newer::host) {
      dt.upload_state(dn, cudabk::StateSlot::carried, carried_);
    }
    dev_->carried_newer = Newer::device;
    for (int t = 0; t < batch.T; t += seg) {
      const StepStats s = device_segment(slice(batch, t, std::min(batch.T, t + seg)), true,
                                         config_.tbptt_bwd, true, true);
      total.loss_sum += s.loss_sum;
      total.count += s.count;
      total.score += s.score;
      total.grad_norm = s.grad_norm;
      total.segments += 1;
    }
    return total;
  }
  if (config_.reset_state_per_batch || carried_.batch != batch.B)
    carried_ = network_.zero_state(batch.B);
  for (int t = 0; t < batch.T; t += seg) {
    const StepStats s = train_segment(slice(batch, t, std::min(batch.T, t + seg)), carried_);
    total.loss_sum += s.loss_sum;
    total.count += s.count;
    total.score += s.score;
    total.grad_norm = s.grad_norm;
    total.segments += 1;
  }
  return total;
}

StepStats Trainer::evaluate(const Batch& batch) {
  check_batch(batch, network_.config(), "Trainer::evaluate");
  const int seg = config_.tbptt_fwd > 0 ? config_.tbptt_fwd : batch.T;
  StepStats total;
  if (dev_) {
    dev_->dt->zero_state(DeviceImpl::net(network_), cudabk::StateSlot::scratch, batch.B);
    for (int t = 0; t < batch.T; t += seg) {
      const StepStats s =
          device_segment(slice(batch, t, std::min(batch.T, t + seg)), false, 0, false, false);
      total.loss_sum += s.loss_sum;
      total.count += s.count;
      total.segments += 1;
    }
    total.score = total.loss_sum / batch.B;
    return total;
  }
  State state = network_.zero_state(batch.B);
  for (int t = 0; t < batch.T; t += seg) {
    const Batch s = slice(batch, t, std::min(batch.T, t + seg));
    impl_->compute(network_, s, state, 0, false);
    for (int k = 0; k < impl_->team.size(); ++k) {
      total.loss_sum += impl_->loss_part[k];
      total.count += impl_->count_part[k];
    }
    total.segments += 1;
  }
  total.score = total.loss_sum / batch.B;
  return total;
}

UpdateReport Trainer::apply_update(const StepStats& stats, int sequences) {
  MELODL_CHECK(sequences >= 1,
               "[Trainer::apply_update] sequences must be >= 1, got " + std::to_string(sequences));
  MELODL_CHECK(dev_ ? dev_->have_grads : !impl_->grads.empty(),
               "[Trainer::apply_update] no gradient yet: call compute_gradients first");
  const auto& oc = optimizer_.config();
  const bool dl4j = oc.kind == OptimizerKind::dl4j_rmsprop;
  UpdateReport r;
  r.finite_loss = std::isfinite(stats.loss_sum);
  double sumsq = 0;
  if (dev_) {
    auto& dn = DeviceImpl::net(network_);
    dev_->sync_device_grads(network_);
    dev_->dt->enqueue_grad_sumsq(dn);
    sumsq = dev_->dt->read_scalars(dn, cudabk::Scalar::kGradSq + 1)[cudabk::Scalar::kGradSq];
  } else {
    for (float g : impl_->grads) sumsq += static_cast<double>(g) * g;
  }
  r.finite_gradient = std::isfinite(sumsq);
  // the norm of the gradient the mode uses (Optimizer::apply: the mean for standard modes)
  const double scale = dl4j ? 1.0 : (stats.count > 0 ? 1.0 / stats.count : 0.0);
  r.grad_norm = std::sqrt(sumsq) * scale;
  if (!r.finite_loss || !r.finite_gradient || !(stats.count > 0)) return r;
  if (dev_) {
    auto& dn = DeviceImpl::net(network_);
    dev_->sync_device_slots(network_, optimizer_);
    // the norm is known: clip by scaling, with no second reduction on the device
    const float fscale = static_cast<float>(scale);
    const double norm = std::sqrt(sumsq) * std::abs(static_cast<double>(fscale));
    const float clip =
        oc.clip_norm > 0 && norm > oc.clip_norm ? static_cast<float>(oc.clip_norm / norm) : 1.0f;
    dev_->dt->enqueue_update(dn, oc, fscale * clip, 0.0f, false, sequences, optimizer_.steps() + 1);
    optimizer_.set_steps(optimizer_.steps() + 1);
    DeviceImpl::params_written(network_);
    dev_->slots_newer = Newer::device;
    r.grad_norm = norm;
  } else {
    impl_->update_grads.assign(impl_->grads.begin(), impl_->grads.end());
    r.grad_norm = optimizer_.apply(network_.params(), impl_->update_grads, impl_->weight_mask,
                                   stats.count, sequences);
  }
  r.applied = true;
  return r;
}

bool Trainer::parameters_finite() const {
  if (dev_) {
    auto& dn = DeviceImpl::net(network_);
    dev_->dt->enqueue_param_sumsq(dn);
    return std::isfinite(
        dev_->dt->read_scalars(dn, cudabk::Scalar::kParamSq + 1)[cudabk::Scalar::kParamSq]);
  }
  for (float w : network_.params())
    if (!std::isfinite(w)) return false;
  return true;
}

}  // namespace melodl::lstm
