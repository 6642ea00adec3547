// lstm/cpu/stepper.cpp: see stepper.h. The kernel keeps a block of rows x columns of the
// result in vector registers while it streams the packed weight rows: 4 rows x 64 columns
// (16 zmm) with AVX-512, 2 rows x 32 columns (8 ymm) with AVX2, scalar otherwise. Narrower
// column tails use one vector, the last one masked, so every column sees the same sequence
// of fused multiply-adds.
#include "lstm/cpu/stepper.h"

#include <algorithm>
#include <cmath>

#include "lstm/cpu/cell.h"
#include "lstm/error.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace melodl::lstm::cpu {

namespace {

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
constexpr int kRows = 4;  // rows per register block
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec vset1(float x) { return _mm512_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
// The first `width` (< kLanes) lanes; the others read as 0 and are not written.
struct Tail {
  __mmask16 m;
  explicit Tail(int width) : m(static_cast<__mmask16>((1u << width) - 1)) {}
  Vec load(const float* p) const { return _mm512_maskz_loadu_ps(m, p); }
  void store(float* p, Vec v) const { _mm512_mask_storeu_ps(p, m, v); }
};
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
constexpr int kRows = 2;
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline Vec vset1(float x) { return _mm256_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
struct Tail {
  __m256i m;
  explicit Tail(int width)
      : m(_mm256_cmpgt_epi32(_mm256_set1_epi32(width), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))) {
  }
  Vec load(const float* p) const { return _mm256_maskload_ps(p, m); }
  void store(float* p, Vec v) const { _mm256_maskstore_ps(p, m, v); }
};
#else
using Vec = float;
constexpr int kLanes = 1;
constexpr int kRows = 1;
inline Vec vload(const float* p) { return *p; }
inline void vstore(float* p, Vec v) { *p = v; }
inline Vec vset1(float x) { return x; }
inline Vec vfma(Vec a, Vec b, Vec c) { return std::fma(a, b, c); }
struct Tail {  // never used: kLanes == 1 leaves no tail
  explicit Tail(int) {}
  Vec load(const float* p) const { return *p; }
  void store(float* p, Vec v) const { *p = v; }
};
#endif
constexpr int kVecs = 4;  // vectors per row in a full column block

// One input of a product: rows x[r * ldx + k] (k < K) times weight rows M[k * ldm + col].
struct Operand {
  const float* x;
  int ldx;
  const float* M;
  int ldm;
  int K;
};

// z[r, c..c+NV*kLanes) = init[r, ...] + sum over operands and k (in order) of x[r,k] * M[k, ...]
// for RB rows starting at r; init rows are ldi apart (0: one row for all). With a Tail (NV 1),
// only its lanes: the same fused multiply-adds per lane, so a column's value does not depend
// on whether it falls in a full block or a tail.
template <int NV, int RB, bool kTail = false>
inline void block(const Operand* ops, int nops, const float* init, int ldi, float* z, int ldz,
                  int c, Tail tail = Tail(0)) {
  static_assert(!kTail || NV == 1);
  auto load = [&](const float* p) { return kTail ? tail.load(p) : vload(p); };
  Vec acc[RB][NV];
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = load(init + r * ldi + c + v * kLanes);
  for (int o = 0; o < nops; ++o) {
    const Operand& op = ops[o];
    const float* m = op.M + c;
    for (int k = 0; k < op.K; ++k, m += op.ldm) {
      Vec w[NV];
      for (int v = 0; v < NV; ++v) w[v] = load(m + v * kLanes);
      for (int r = 0; r < RB; ++r) {
        const Vec x = vset1(op.x[r * op.ldx + k]);
        for (int v = 0; v < NV; ++v) acc[r][v] = vfma(x, w[v], acc[r][v]);
      }
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) {
      if constexpr (kTail)
        tail.store(z + r * ldz + c, acc[r][v]);
      else
        vstore(z + r * ldz + c + v * kLanes, acc[r][v]);
    }
}

// All rows for columns [c, c + NV*kLanes): register blocks of kRows rows, then single rows.
// The column block's weights (K x NV*kLanes floats per operand) stay in L1/L2 while every
// row block streams them.
// All rows for columns [c, c + NV*kLanes) (a tail: the tail's lanes): register blocks of kRows
// rows, then single rows. The column block's weights (K x NV*kLanes floats per operand) stay
// in L1/L2 while every row block streams them.
template <int NV, bool kTail = false>
void column_block(const Operand* ops, int nops, const float* init, int ldi, float* z, int ldz,
                  int B, int c, Tail tail = Tail(0)) {
  Operand shifted[2];
  auto at = [&](int row) {
    for (int o = 0; o < nops; ++o) {
      shifted[o] = ops[o];
      shifted[o].x += static_cast<std::size_t>(row) * ops[o].ldx;
    }
    return shifted;
  };
  int r = 0;
  for (; r + kRows <= B; r += kRows)
    block<NV, kRows, kTail>(at(r), nops, init + static_cast<std::size_t>(r) * ldi, ldi,
                            z + static_cast<std::size_t>(r) * ldz, ldz, c, tail);
  for (; r < B; ++r)
    block<NV, 1, kTail>(at(r), nops, init + static_cast<std::size_t>(r) * ldi, ldi,
                        z + static_cast<std::size_t>(r) * ldz, ldz, c, tail);
}

// z [B,N] (row stride ldz) = init + the operands' products (at most 2 operands), column block
// by column block, the last narrower than a vector masked.
void product(const Operand* ops, int nops, const float* init, int ldi, float* z, int ldz, int B,
             int N) {
  int c = 0;
  for (; c + kVecs * kLanes <= N; c += kVecs * kLanes)
    column_block<kVecs>(ops, nops, init, ldi, z, ldz, B, c);
  for (; c + kLanes <= N; c += kLanes) column_block<1>(ops, nops, init, ldi, z, ldz, B, c);
  if (c < N) column_block<1, true>(ops, nops, init, ldi, z, ldz, B, c, Tail(N - c));
}

}  // namespace

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
