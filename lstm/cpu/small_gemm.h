// lstm/cpu/small_gemm.h: the CPU backend's product for few rows (internal): z [B,N] = init +
// sum of x [B,K] * M [K,N] over one or two operands, for the per-step products of sampling
// (lstm/cpu/stepper.h), where B is 1-64 and M is the same matrix for every step. M is read in
// place (its rows ldm apart), so nothing is packed per step, unlike a general GEMM. (Tried
// for training's per-step recurrent products too, in place of Eigen's GEMM: no measurable
// change in the seed step, 30.3-32.8 against 30.8-31.0 ms; training keeps Eigen.)
//
// The kernel keeps a block of rows x columns of the result in vector registers while it
// streams M's rows: 4 rows x 64 columns (16 zmm) with AVX-512, 2 rows x 32 columns (8 ymm)
// with AVX2, scalar otherwise; column blocks outside, row blocks inside, so a block's slice
// of M stays in L1/L2 while every row block streams it. Narrower column tails use one vector,
// the last one masked. Every output element is the same sequence of fused multiply-adds
// (init, then each operand's k = 0..K-1 in order), whatever the block it falls in: results do
// not depend on B, on a row's position or on how N is split between threads.
#pragma once

#include <cmath>
#include <cstddef>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace melodl::lstm::cpu::small_gemm {

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
inline void column_block(const Operand* ops, int nops, const float* init, int ldi, float* z,
                         int ldz, int B, int c, Tail tail = Tail(0)) {
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
inline void product(const Operand* ops, int nops, const float* init, int ldi, float* z, int ldz,
                    int B, int N) {
  int c = 0;
  for (; c + kVecs * kLanes <= N; c += kVecs * kLanes)
    column_block<kVecs>(ops, nops, init, ldi, z, ldz, B, c);
  for (; c + kLanes <= N; c += kLanes) column_block<1>(ops, nops, init, ldi, z, ldz, B, c);
  if (c < N) column_block<1, true>(ops, nops, init, ldi, z, ldz, B, c, Tail(N - c));
}

}  // namespace melodl::lstm::cpu::small_gemm
