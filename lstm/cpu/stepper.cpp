// lstm/cpu/stepper.cpp: see stepper.h. The products are lstm/cpu/small_gemm.h's.
#include "lstm/cpu/stepper.h"

#include <algorithm>
#include <cmath>

#include "lstm/cpu/cell.h"
#include "lstm/cpu/small_gemm.h"
#include "lstm/error.h"

namespace melodl::lstm::cpu {

using small_gemm::Operand;
using small_gemm::product;

Stepper::Stepper(const NetworkConfig& config, int threads)
    : config_(config), team_(std::clamp(config.hidden / 64, 1, std::max(threads, 1))) {
  const int nt = team_.size(), H = config_.hidden, V = config_.vocab;
  parts_.resize(nt);
  for (int t = 0; t < nt; ++t) {
    Part& p = parts_[t];
    split_range(H, nt, t, 4, p.u0, p.u1);  // 100 + 100 of 200: balanced
    p.n = p.u1 - p.u0;
    split_range(V, nt, t, 1, p.v0, p.v1);
  }
}

void Stepper::load(const Network& net) {
  MELODL_CHECK(net.config().same_shape(config_), "[Stepper::load] network shape changed");
  const int H = config_.hidden, G = 4 * H, V = config_.vocab;
  const float* P = net.params().data();
  const ParamLayout& L = net.layout();
  team_.run([&](int tid) {  // each thread packs (and so first touches) its own share
    Part& p = parts_[tid];
    const int n = p.n, nv = p.v1 - p.v0;
    p.W.resize(config_.layers);
    p.R.resize(config_.layers);
    p.bias.resize(config_.layers);
    p.peep.resize(config_.layers);
    for (int l = 0; l < config_.layers; ++l) {
      const auto& ly = L.layers[l];
      auto pack = [&](AlignedFloats& dst, std::size_t src, int rows) {
        dst.resize(static_cast<std::size_t>(rows) * 4 * n);
        for (int k = 0; k < rows; ++k)
          for (int q = 0; q < 4; ++q)
            std::copy_n(P + src + static_cast<std::size_t>(k) * G + q * H + p.u0, n,
                        dst.begin() + (static_cast<std::size_t>(k) * 4 + q) * n);
      };
      pack(p.W[l], ly.W, ly.input);
      pack(p.R[l], ly.R, H);
      pack(p.bias[l], ly.b, 1);
      p.peep[l].assign(static_cast<std::size_t>(3) * n, 0.0f);
      if (ly.peepholes)
        for (int q = 0; q < 3; ++q)
          std::copy_n(P + ly.p + static_cast<std::size_t>(q) * H + p.u0, n,
                      p.peep[l].begin() + static_cast<std::size_t>(q) * n);
    }
    p.Wy.resize(static_cast<std::size_t>(H) * nv);
    for (int k = 0; k < H; ++k)
      std::copy_n(P + L.Wy + static_cast<std::size_t>(k) * V + p.v0, nv,
                  p.Wy.begin() + static_cast<std::size_t>(k) * nv);
    p.by.assign(P + L.by + p.v0, P + L.by + p.v1);
  });
}

void Stepper::step(std::span<const std::int32_t> symbols, State& state, std::span<float> logits) {
  const int B = state.batch, H = config_.hidden, V = config_.vocab;
  MELODL_CHECK(B >= 1 && symbols.size() == static_cast<std::size_t>(B) &&
                   logits.size() == static_cast<std::size_t>(B) * V &&
                   static_cast<int>(state.h.size()) == config_.layers,
               "[Stepper::step] symbols [B], state and logits [B,V] do not match");
  for (auto s : symbols)
    MELODL_CHECK(s >= 0 && s < V, "[Stepper::step] symbol " + std::to_string(s) +
                                      " out of range [0," + std::to_string(V) + ")");
  if (B != B_) {
    B_ = B;
    hnew_.assign(config_.layers, AlignedFloats(static_cast<std::size_t>(B) * H));
    for (auto& p : parts_) p.z.resize(static_cast<std::size_t>(B) * 4 * p.n);
  }
  team_.run([&](int tid) { run_part(tid, symbols, state, logits); });
}

void Stepper::run_part(int tid, std::span<const std::int32_t> symbols, State& state,
                       std::span<float> logits) {
  Part& p = parts_[tid];
  const int B = B_, H = config_.hidden, V = config_.vocab, n = p.n, N = 4 * n;
  for (int l = 0; l < config_.layers; ++l) {
    if (l > 0) team_.barrier();  // layer l-1's h complete
    if (n > 0) {
      float* z = p.z.data();
      const float* hprev = state.h[l].data();
      if (l == 0) {
        // bias + the symbol's row of W (gathered), then + h R
        for (int b = 0; b < B; ++b) {
          const float* w = p.W[0].data() + static_cast<std::size_t>(symbols[b]) * N;
          for (int j = 0; j < N; ++j) z[b * N + j] = p.bias[0][j] + w[j];
        }
        Operand op{hprev, H, p.R[0].data(), N, H};
        product(&op, 1, z, N, z, N, B, N);
      } else {
        Operand ops[2] = {{hnew_[l - 1].data(), H, p.W[l].data(), N, H},
                          {hprev, H, p.R[l].data(), N, H}};
        product(ops, 2, p.bias[l].data(), 0, z, N, B, N);
      }
      for (int b = 0; b < B; ++b) {
        float* c = state.c[l].data() + static_cast<std::size_t>(b) * H + p.u0;
        cell_forward(z + static_cast<std::size_t>(b) * N, c, c,
                     hnew_[l].data() + static_cast<std::size_t>(b) * H + p.u0, nullptr,
                     config_.peepholes ? p.peep[l].data() : nullptr, n, 0, n);
      }
    }
  }
  team_.barrier();  // every layer's new h complete; nobody reads the old h any more
  for (int l = 0; l < config_.layers; ++l)
    for (int b = 0; b < B; ++b)
      std::copy_n(hnew_[l].data() + static_cast<std::size_t>(b) * H + p.u0, n,
                  state.h[l].data() + static_cast<std::size_t>(b) * H + p.u0);
  const int nv = p.v1 - p.v0;
  if (nv > 0) {
    Operand op{hnew_[config_.layers - 1].data(), H, p.Wy.data(), nv, H};
    product(&op, 1, p.by.data(), 0, logits.data() + p.v0, V, B, nv);
  }
}

}  // namespace melodl::lstm::cpu
