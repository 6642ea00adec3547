// lstm/ref.h: scalar reference of the whole network (forward, softmax cross-entropy and
// truncated-BPTT backward), templated on the scalar type so tests run it in double. It is
// the specification the Eigen backend (lstm/cpu/) and the CUDA kernels are tested against:
// plain loops in the order of the equations in lstm/network.h, nothing clever.
// Tests: tests/lstm/gradient_test.cpp (finite differences), backend_test.cpp (float vs ref).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "lstm/network.h"

namespace melodl::lstm::ref {

template <class S>
struct RefState {
  std::vector<std::vector<S>> h, c;  // per layer [B,H]
  static RefState zeros(const ParamLayout& layout, int B) {
    RefState s;
    for (const auto& l : layout.layers) {
      s.h.emplace_back(static_cast<std::size_t>(B) * l.hidden, S(0));
      s.c.emplace_back(static_cast<std::size_t>(B) * l.hidden, S(0));
    }
    return s;
  }
};

template <class S>
S sigmoid(S x) {
  return S(1) / (S(1) + std::exp(-x));
}

// Runs one segment of T steps for B streams: inputs/targets [T,B], mask [T,B] (empty = ones).
// Returns the summed masked cross-entropy over ALL T steps. state is updated to the final
// state. When grad != nullptr, *grad (resized to layout.total, overwritten) receives the
// gradient of the summed cross-entropy of the last `bwd` steps (0 = all T) with the state
// entering step T-bwd held constant (truncated BPTT). logits (optional) receives [T,B,V].
// Dropout (docs/training.md "Regularisation and schedule"; empty = off): drop_out [NL][T,B,H]
// multiplies layer l's output h_t as fed to layer l+1 / the output layer; drop_rec [NL][B,H]
// multiplies h_{t-1} in layer l's recurrent product at every step.
template <class S>
S segment(const ParamLayout& L, std::span<const S> P, std::span<const std::int32_t> inputs,
          std::span<const std::int32_t> targets, std::span<const float> mask, int T, int B,
          RefState<S>& state, int bwd = 0, std::vector<S>* grad = nullptr,
          std::vector<S>* logits = nullptr, std::span<const float> drop_out = {},
          std::span<const float> drop_rec = {}) {
  const int NL = static_cast<int>(L.layers.size());
  const int Htop = L.layers.back().hidden;
  const int V = static_cast<int>((L.total - L.Wy) / (Htop + 1));
  if (bwd <= 0 || bwd > T) bwd = T;
  const int t0 = T - bwd;  // first step of the backward window
  auto idx = [](int a, int b, int n) { return static_cast<std::size_t>(a) * n + b; };
  // acts[l]: [T][B][G] post-activation gates; cs/hs[l]: [T+1][B][H], index 0 = initial.
  std::vector<std::vector<S>> acts(NL), cs(NL), hs(NL);
  // xs[l]: [T][B][H] layer l's output as fed upwards; hr[l]: [T][B][H] h_{t-1} as fed to R.
  std::vector<std::vector<S>> xs(NL), hr(NL);
  std::size_t off_out = 0, off_rec = 0;  // running offsets into drop_out / drop_rec
  for (int l = 0; l < NL; ++l) {
    const auto& ly = L.layers[l];
    const int H = ly.hidden, G = 4 * H, I = ly.input;
    acts[l].assign(static_cast<std::size_t>(T) * B * G, S(0));
    cs[l].assign(static_cast<std::size_t>(T + 1) * B * H, S(0));
    hs[l].assign(static_cast<std::size_t>(T + 1) * B * H, S(0));
    for (int k = 0; k < B * H; ++k) {
      cs[l][k] = state.c[l][k];
      hs[l][k] = state.h[l][k];
    }
    const S* W = P.data() + ly.W;
    const S* R = P.data() + ly.R;
    const S* bb = P.data() + ly.b;
    const S* p = ly.peepholes ? P.data() + ly.p : nullptr;
    hr[l].assign(static_cast<std::size_t>(T) * B * H, S(0));
    for (int t = 0; t < T; ++t) {
      for (int b = 0; b < B; ++b) {
        S* hprev = &hr[l][idx(t * B + b, 0, H)];
        for (int k = 0; k < H; ++k)
          hprev[k] = hs[l][idx(t * B + b, k, H)] *
                     (drop_rec.empty() ? S(1) : S(drop_rec[off_rec + idx(b, k, H)]));
        const S* cprev = &cs[l][idx(t * B + b, 0, H)];
        S* a = &acts[l][idx(t * B + b, 0, G)];
        for (int j = 0; j < G; ++j) {
          S z = bb[j];
          if (l == 0) {
            z += W[idx(inputs[t * B + b], j, G)];
          } else {
            const S* x = &xs[l - 1][idx(t * B + b, 0, I)];
            for (int k = 0; k < I; ++k) z += x[k] * W[idx(k, j, G)];
          }
          for (int k = 0; k < H; ++k) z += hprev[k] * R[idx(k, j, G)];
          a[j] = z;
        }
        S* c = &cs[l][idx((t + 1) * B + b, 0, H)];
        S* h = &hs[l][idx((t + 1) * B + b, 0, H)];
        for (int u = 0; u < H; ++u) {
          const S pi = p ? p[u] : S(0), pf = p ? p[H + u] : S(0), po = p ? p[2 * H + u] : S(0);
          const S i = sigmoid(a[u] + pi * cprev[u]);
          const S f = sigmoid(a[H + u] + pf * cprev[u]);
          const S g = std::tanh(a[2 * H + u]);
          c[u] = f * cprev[u] + i * g;
          const S o = sigmoid(a[3 * H + u] + po * c[u]);
          h[u] = o * std::tanh(c[u]);
          a[u] = i;
          a[H + u] = f;
          a[2 * H + u] = g;
          a[3 * H + u] = o;
        }
      }
    }
    for (int k = 0; k < B * H; ++k) {
      state.c[l][k] = cs[l][idx(T * B, k, H)];
      state.h[l][k] = hs[l][idx(T * B, k, H)];
    }
    xs[l].assign(hs[l].begin() + static_cast<std::ptrdiff_t>(B) * H, hs[l].end());
    for (std::size_t k = 0; !drop_out.empty() && k < xs[l].size(); ++k)
      xs[l][k] *= S(drop_out[off_out + k]);
    off_out += xs[l].size();
    off_rec += static_cast<std::size_t>(B) * H;
  }
  // Output layer and loss.
  const S* Wy = P.data() + L.Wy;
  const S* by = P.data() + L.by;
  std::vector<S> probs(static_cast<std::size_t>(T) * B * V);
  S loss = 0;
  for (int r = 0; r < T * B; ++r) {
    const S* h = &xs[NL - 1][idx(r, 0, Htop)];
    S* z = &probs[idx(r, 0, V)];
    for (int v = 0; v < V; ++v) {
      S s = by[v];
      for (int k = 0; k < Htop; ++k) s += h[k] * Wy[idx(k, v, V)];
      z[v] = s;
    }
    if (logits) {
      logits->resize(probs.size());
      for (int v = 0; v < V; ++v) (*logits)[idx(r, v, V)] = z[v];
    }
    S mx = z[0];
    for (int v = 1; v < V; ++v) mx = z[v] > mx ? z[v] : mx;
    S sum = 0;
    for (int v = 0; v < V; ++v) sum += std::exp(z[v] - mx);
    const S lse = mx + std::log(sum);
    const S m = mask.empty() ? S(1) : S(mask[r]);
    loss += m * (lse - z[targets[r]]);
    for (int v = 0; v < V; ++v) z[v] = std::exp(z[v] - lse);
  }
  if (!grad) return loss;

  std::vector<S>& dP = *grad;
  dP.assign(L.total, S(0));
  // dy for the top layer: [T][B][H]
  std::vector<S> dy(static_cast<std::size_t>(T) * B * Htop, S(0));
  for (int r = t0 * B; r < T * B; ++r) {
    const S m = mask.empty() ? S(1) : S(mask[r]);
    if (m == S(0)) continue;
    const S* h = &xs[NL - 1][idx(r, 0, Htop)];
    for (int v = 0; v < V; ++v) {
      const S dz = m * (probs[idx(r, v, V)] - (v == targets[r] ? S(1) : S(0)));
      dP[L.by + v] += dz;
      for (int k = 0; k < Htop; ++k) {
        dP[L.Wy + idx(k, v, V)] += h[k] * dz;
        dy[idx(r, k, Htop)] += Wy[idx(k, v, V)] * dz;
      }
    }
  }
  // through the output dropout of layer l: dy[r,k] *= mask
  auto drop_grad = [&](std::vector<S>& d, int l) {
    if (drop_out.empty()) return;
    std::size_t off = 0;
    for (int k = 0; k < l; ++k) off += static_cast<std::size_t>(T) * B * L.layers[k].hidden;
    for (std::size_t k = 0; k < d.size(); ++k) d[k] *= S(drop_out[off + k]);
  };
  drop_grad(dy, NL - 1);
  for (int l = NL - 1; l >= 0; --l) {
    const auto& ly = L.layers[l];
    const int H = ly.hidden, G = 4 * H, I = ly.input;
    const float* rm =
        drop_rec.empty() ? nullptr : drop_rec.data() + static_cast<std::size_t>(l) * B * H;
    const S* W = P.data() + ly.W;
    const S* R = P.data() + ly.R;
    const S* p = ly.peepholes ? P.data() + ly.p : nullptr;
    std::vector<S> dx(l > 0 ? static_cast<std::size_t>(T) * B * I : 0, S(0));
    std::vector<S> dh(static_cast<std::size_t>(B) * H, S(0)), dc(dh),
        dG(static_cast<std::size_t>(G));
    for (int t = T - 1; t >= t0; --t) {
      std::vector<S> dh_prev(static_cast<std::size_t>(B) * H, S(0));
      for (int b = 0; b < B; ++b) {
        const S* a = &acts[l][idx(t * B + b, 0, G)];
        const S* cprev = &cs[l][idx(t * B + b, 0, H)];
        const S* c = &cs[l][idx((t + 1) * B + b, 0, H)];
        const S* hprev = &hr[l][idx(t * B + b, 0, H)];
        for (int u = 0; u < H; ++u) {
          const S i = a[u], f = a[H + u], g = a[2 * H + u], o = a[3 * H + u];
          const S pi = p ? p[u] : S(0), pf = p ? p[H + u] : S(0), po = p ? p[2 * H + u] : S(0);
          const S dht = dy[idx(t * B + b, u, H)] + dh[idx(b, u, H)];
          const S tc = std::tanh(c[u]);
          const S dzo = dht * tc * o * (S(1) - o);
          const S dct = dc[idx(b, u, H)] + dht * o * (S(1) - tc * tc) + dzo * po;
          const S dzi = dct * g * i * (S(1) - i);
          const S dzf = dct * cprev[u] * f * (S(1) - f);
          const S dzg = dct * i * (S(1) - g * g);
          dc[idx(b, u, H)] = dct * f + dzi * pi + dzf * pf;
          if (p) {
            dP[ly.p + u] += dzi * cprev[u];
            dP[ly.p + H + u] += dzf * cprev[u];
            dP[ly.p + 2 * H + u] += dzo * c[u];
          }
          dG[u] = dzi;
          dG[H + u] = dzf;
          dG[2 * H + u] = dzg;
          dG[3 * H + u] = dzo;
        }
        for (int j = 0; j < G; ++j) {
          dP[ly.b + j] += dG[j];
          for (int k = 0; k < H; ++k) {
            dP[ly.R + idx(k, j, G)] += hprev[k] * dG[j];
            dh_prev[idx(b, k, H)] += R[idx(k, j, G)] * dG[j];
          }
          if (l == 0) {
            dP[ly.W + idx(inputs[t * B + b], j, G)] += dG[j];
          } else {
            const S* x = &xs[l - 1][idx(t * B + b, 0, I)];
            for (int k = 0; k < I; ++k) {
              dP[ly.W + idx(k, j, G)] += x[k] * dG[j];
              dx[idx(t * B + b, k, I)] += W[idx(k, j, G)] * dG[j];
            }
          }
        }
      }
      if (rm)
        for (std::size_t k = 0; k < dh_prev.size(); ++k) dh_prev[k] *= S(rm[k]);
      dh = dh_prev;
    }
    if (l > 0) drop_grad(dx, l - 1);
    dy = std::move(dx);
  }
  return loss;
}

}  // namespace melodl::lstm::ref
