// tests/kernels/lstm_layer_splitk_transcription_test.cpp: the variant-(c) persistent forward
// (kernels/lstm_layer_persistent_splitk.cu) transcribed thread by thread onto the host and
// checked against ref::lstm_layer_forward<double>, so its indexing is tested without a GPU.
// The transcription follows the kernel statement by statement for every CTA and thread: the
// R-slice load and tile zeroing, the per-step tile copies (vector and scalar paths), each
// lane's chunk loop (fmaf in the kernel's order), the two reduce-scatter shuffles and the
// butterfly (each shuffle reads the partner lane's register, which must be in the same task
// group and take part), and the writers' cell update. The geometry comes from the kernel's
// own header (kernels/lstm_layer_persistent_splitk.h). Every shared-memory access is checked
// against its region (and 16-byte alignment for float4), global outputs start as NaN and must
// each be written exactly once, and each gate pre-activation must be read exactly once, by the
// thread that then overwrites it. Also: a bank-conflict model of the inner loop's loads.
// Label cpu (kernels_ref_test). The kernel itself is tested on a GPU by PersistentSplitK* in
// tests/kernels/lstm_layer_cuda_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <vector>

#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/lstm_layer_persistent_splitk.h"
#include "tests/kernels/layer_fixture.h"

namespace melodl {
namespace {

using splitk::Geometry;
using splitk::kRowsPerTask;
using splitk::kThreads;
using splitk::kVec;
using test::LayerProblem;
using test::LayerShape;

constexpr int kH100Sms = 132;               // H100 SXM / H200
constexpr std::size_t kH100Optin = 232448;  // 227 KB opt-in shared memory per CTA

struct Outputs {
  std::vector<float> hs, cs, gates;
};

float sigmoidf(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// One launch of splitk_fwd_kernel<training, peephole>, transcribed. vec_copy as the launcher
// computes it (H % 4 == 0 and aligned state; the caller says which path to take).
Outputs transcribe(const LayerProblem& P, const Geometry& geo, bool training, bool vec_copy) {
  const auto& s = P.s;
  const int T = s.T, B = s.B, H = s.H, G = 4 * H;
  const int U = geo.U, Hp = geo.Hp, Bt = geo.Bt, L = geo.L, C = Hp / kVec;
  const int Bp = splitk::round_up(B, kRowsPerTask);
  EXPECT_TRUE(geo.why_not.empty()) << geo.why_not;
  EXPECT_EQ(Hp % kVec, 0);
  EXPECT_EQ(kThreads % L, 0);
  EXPECT_EQ(32 % L, 0);
  EXPECT_GE(L, 4);
  EXPECT_EQ(Bt % kRowsPerTask, 0);
  if (vec_copy) {
    EXPECT_EQ(H % kVec, 0) << "the launcher takes the vector path only for H % 4 == 0";
  }
  const int64_t BH = int64_t(B) * H;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto f = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  const auto W = f(P.W), R = f(P.R), bias = f(P.b), p = f(P.p), h0 = f(P.h0), c0 = f(P.c0);

  // Hoisted input projection (gather or GEMM; the kernel reads it from `gates`).
  Outputs out{std::vector<float>(T * BH, nan), std::vector<float>(T * BH, nan),
              std::vector<float>(size_t(T) * B * G)};
  if (s.onehot) {
    GatherArgsT<float> ga{int64_t(T) * B,  s.I, G, P.symbols.data(), W.data(), nullptr,
                          out.gates.data()};
    ref::gather_rows(ga);
  } else {
    const auto x = f(P.x);
    ref::gemm<float>(false, false, T * B, G, s.I, 1.f, x.data(), s.I, W.data(), G, 0.f,
                     out.gates.data(), G);
  }
  std::vector<int> hs_writes(T * BH, 0), gate_reads(size_t(T) * B * G, 0),
      gate_writes(size_t(T) * B * G, 0);

  // Shared memory of each CTA (NaN: unwritten shared memory must never reach a result).
  const int r_floats = 4 * U * Hp, smem_floats = r_floats + Bt * Hp;
  EXPECT_EQ(std::size_t(smem_floats) * 4, geo.smem_bytes);
  std::vector<std::vector<float>> smem(geo.P, std::vector<float>(smem_floats, nan));
  auto rs_at = [&](int cta, int idx) -> float& {
    EXPECT_TRUE(idx >= 0 && idx < r_floats) << "Rs index " << idx;
    return smem[cta].at(idx);
  };
  auto ht_at = [&](int cta, int idx) -> float& {
    EXPECT_TRUE(idx >= 0 && idx < Bt * Hp) << "ht index " << idx;
    return smem[cta].at(r_floats + idx);
  };
  // A float4 load of the chunk loop: inside its region and 16-byte aligned.
  auto vec_at = [&](int cta, int region_start, int region_end, int idx) -> const float* {
    if (idx < 0 || idx + kVec > region_end - region_start || idx % kVec != 0) {
      ADD_FAILURE() << "float4 load at " << idx << " outside [0, " << region_end - region_start
                    << ") or unaligned";
      return smem[cta].data();
    }
    return smem[cta].data() + region_start + idx;
  };

  // Kernel prologue, every CTA and thread.
  for (int cta = 0; cta < geo.P; ++cta) {
    const int j0 = cta * U, nu = std::min(U, H - j0);
    EXPECT_GE(nu, 1);
    for (int tid = 0; tid < kThreads; ++tid) {
      for (int e = tid; e < 4 * U * Hp; e += kThreads) {
        const int k = e / (4 * U), w = e - k * 4 * U, q = w / U, u = w - q * U;
        rs_at(cta, (u * 4 + q) * Hp + k) =
            (u < nu && k < H) ? R.at(int64_t(k) * G + q * H + j0 + u) : 0.f;
      }
    }
    for (int tid = 0; tid < kThreads; ++tid)
      for (int e = tid; e < Bt * Hp; e += kThreads) ht_at(cta, e) = 0.f;
  }

  for (int t = 0; t < T; ++t) {
    const float* h_prev = t ? out.hs.data() + (t - 1) * BH : h0.data();  // [B,H]
    const float* c_prev = t ? out.cs.data() + (t - 1) * BH : c0.data();  // [B,H]
    const int64_t z_off = int64_t(t) * B * G;
    for (int cta = 0; cta < geo.P; ++cta) {
      const int j0 = cta * U, nu = std::min(U, H - j0);
      for (int bt0 = 0; bt0 < Bp; bt0 += Bt) {
        const int rows = std::min(Bt, B - bt0), trows = std::min(Bt, Bp - bt0);
        EXPECT_GE(rows, 1);
        EXPECT_EQ(trows % kRowsPerTask, 0);
        // copy_tile, per thread, both paths; src rows [bt0, bt0+rows) of h_prev.
        const float* src = h_prev + int64_t(bt0) * H;
        for (int tid = 0; tid < kThreads; ++tid) {
          if (vec_copy) {
            const int n4 = H / kVec, total = rows * n4;
            for (int e0 = tid; e0 < total; e0 += kThreads * 4)
              for (int sb = 0; sb < 4; ++sb) {
                const int e = e0 + sb * kThreads;
                if (e >= total) continue;
                const int r = e / n4, c = e - r * n4;
                EXPECT_EQ((r * Hp + kVec * c) % kVec, 0) << "unaligned float4 store";
                for (int v = 0; v < kVec; ++v) ht_at(cta, r * Hp + kVec * c + v) = src[4 * e + v];
              }
          } else {
            const int total = rows * H;
            for (int e0 = tid; e0 < total; e0 += kThreads * 4)
              for (int sb = 0; sb < 4; ++sb) {
                const int e = e0 + sb * kThreads;
                if (e >= total) continue;
                const int r = e / H, k = e - r * H;
                ht_at(cta, r * Hp + k) = src[e];
              }
          }
        }
        // __syncthreads(); the task loop of every group.
        const int ntask = trows / kRowsPerTask * nu, ngroups = kThreads / L;
        for (int g = 0; g < ngroups; ++g) {
          for (int tau = g; tau < ntask; tau += ngroups) {
            const int u = splitk::task_unit(tau, nu), row0 = splitk::task_block(tau, nu) * 4;
            const int j = j0 + u;
            EXPECT_LT(u, nu);
            EXPECT_LE(row0 + 4, trows);
            // Per lane: the partial sums of 4 rows x 4 gates over its chunks.
            std::vector<std::array<std::array<float, 4>, 4>> acc(L);
            for (int l = 0; l < L; ++l) {
              for (auto& a : acc[l]) a.fill(0.f);
              for (int c = l; c < C; c += L) {
                float hv[4][4], rv[4][4];
                for (int i = 0; i < 4; ++i) {
                  const float* h4 = vec_at(cta, r_floats, smem_floats, (row0 + i) * Hp + kVec * c);
                  for (int v = 0; v < 4; ++v) hv[i][v] = h4[v];
                }
                for (int q = 0; q < 4; ++q) {
                  const float* r4 = vec_at(cta, 0, r_floats, (u * 4 + q) * Hp + kVec * c);
                  for (int v = 0; v < 4; ++v) rv[q][v] = r4[v];
                }
                for (int i = 0; i < 4; ++i)
                  for (int q = 0; q < 4; ++q) {
                    float a = acc[l][i][q];
                    for (int v = 0; v < 4; ++v) a = std::fma(hv[i][v], rv[q][v], a);
                    acc[l][i][q] = a;
                  }
              }
            }
            // The shuffles: lane (within its warp) tid & 31 reads lane ^ m, which must be in
            // the same group (same g, so the same tau and trip count).
            const int m1 = L / 2, m2 = L / 4;
            auto partner = [&](int l, int m) {
              const int tid = g * L + l, lane = tid & 31, other = (lane ^ m) + (tid - lane);
              EXPECT_EQ(other / L, g) << "shuffle partner outside the task group";
              return other - g * L;
            };
            std::vector<std::array<std::array<float, 4>, 2>> s2(L);
            for (int l = 0; l < L; ++l) {
              const bool hi1 = (l & m1) != 0;
              const int o = partner(l, m1);
              for (int i = 0; i < 2; ++i)
                for (int q = 0; q < 4; ++q) {
                  const float send_o = hi1 ? acc[o][i + 2][q] : acc[o][i][q];  // partner's send
                  const float keep = hi1 ? acc[l][i + 2][q] : acc[l][i][q];
                  s2[l][i][q] = keep + send_o;
                }
            }
            std::vector<std::array<float, 4>> sq(L);
            for (int l = 0; l < L; ++l) {
              const bool hi2 = (l & m2) != 0;
              const int o = partner(l, m2);
              for (int q = 0; q < 4; ++q) {
                const float send_o = hi2 ? s2[o][1][q] : s2[o][0][q];  // partner's send
                const float keep = hi2 ? s2[l][1][q] : s2[l][0][q];
                sq[l][q] = keep + send_o;
              }
            }
            for (int m = L / 8; m >= 1; m >>= 1) {
              auto prev = sq;
              for (int l = 0; l < L; ++l)
                for (int q = 0; q < 4; ++q) sq[l][q] = prev[l][q] + prev[partner(l, m)][q];
            }
            // Lanes holding the same row agree bitwise; the writer of each row updates it.
            for (int l = 0; l < L; ++l) {
              const int my_row = splitk::row_of_lane(l, L);
              const int lead = l & ~(m2 - 1);
              EXPECT_EQ(splitk::row_of_lane(lead, L), my_row);
              for (int q = 0; q < 4; ++q)
                EXPECT_EQ(sq[l][q], sq[lead][q]) << "lanes of one row disagree";
              const int bi = bt0 + row0 + my_row;
              if (!splitk::lane_writes(l, L) || bi >= B) continue;
              float* zr = out.gates.data() + z_off + int64_t(bi) * G;
              float zq[4];
              for (int q = 0; q < 4; ++q) {
                zq[q] = zr[q * H + j];
                EXPECT_EQ(gate_reads[z_off + int64_t(bi) * G + q * H + j]++, 0);
                EXPECT_EQ(gate_writes[z_off + int64_t(bi) * G + q * H + j], 0)
                    << "pre-activation read after it was overwritten";
              }
              const float cp = c_prev[int64_t(bi) * H + j];
              const float pi = s.peephole ? p[j] : 0.f, pf = s.peephole ? p[H + j] : 0.f,
                          po = s.peephole ? p[2 * H + j] : 0.f;
              const float ig = sigmoidf(zq[0] + sq[l][0] + bias[j] + pi * cp);
              const float fg = sigmoidf(zq[1] + sq[l][1] + bias[H + j] + pf * cp);
              const float gg = std::tanh(zq[2] + sq[l][2] + bias[2 * H + j]);
              const float c = fg * cp + ig * gg;
              const float og = sigmoidf(zq[3] + sq[l][3] + bias[3 * H + j] + po * c);
              const int64_t idx = t * BH + int64_t(bi) * H + j;
              EXPECT_EQ(hs_writes[idx]++, 0) << "h written twice";
              out.cs[idx] = c;
              out.hs[idx] = og * std::tanh(c);
              if (training) {
                for (int q = 0; q < 4; ++q) gate_writes[z_off + int64_t(bi) * G + q * H + j]++;
                zr[j] = ig;
                zr[H + j] = fg;
                zr[2 * H + j] = gg;
                zr[3 * H + j] = og;
              }
            }
          }
        }
      }
    }
    // grid.sync()
  }
  EXPECT_EQ(std::count(hs_writes.begin(), hs_writes.end(), 1), int64_t(hs_writes.size()))
      << "some h/c elements were not written exactly once";
  EXPECT_EQ(std::count(gate_reads.begin(), gate_reads.end(), 1), int64_t(gate_reads.size()))
      << "some pre-activations were not read exactly once";
  EXPECT_EQ(std::count(gate_writes.begin(), gate_writes.end(), training ? 1 : 0),
            int64_t(gate_writes.size()))
      << "gates not written exactly " << (training ? "once" : "never");
  return out;
}

LayerProblem float_problem(const LayerShape& shape) {
  LayerProblem P(shape);
  for (auto* v : {&P.x, &P.W, &P.R, &P.b, &P.p, &P.h0, &P.c0})
    for (auto& e : *v) e = static_cast<double>(static_cast<float>(e));
  return P;
}

struct Case {
  LayerShape shape;
  int sms = kH100Sms;
  std::size_t smem = kH100Optin;
  int units_per_cta = 0, batch_tile = 0;
};

// full: also the inference run and the scalar copy path (both bitwise equal to training).
void check_against_reference(const Case& k, std::set<int>* lanes_seen = nullptr, bool full = true) {
  const LayerProblem P = float_problem(k.shape);
  const auto& s = P.s;
  const Geometry geo =
      splitk::make_geometry(s.B, s.H, k.sms, k.smem, k.units_per_cta, k.batch_tile);
  ASSERT_TRUE(geo.why_not.empty()) << geo.why_not;
  SCOPED_TRACE(s.name() + " U=" + std::to_string(geo.U) + " P=" + std::to_string(geo.P) +
               " Hp=" + std::to_string(geo.Hp) + " Bt=" + std::to_string(geo.Bt) +
               " tiles=" + std::to_string(geo.tiles) + " L=" + std::to_string(geo.L));
  if (lanes_seen) lanes_seen->insert(geo.L);
  const auto od = P.forward_ref<double>();
  const auto of = P.forward_ref<float>();
  const int64_t T = s.T, B = s.B, H = s.H;
  auto check = [&](const std::vector<float>& got, const std::vector<float>& rf,
                   const std::vector<double>& rd, const char* name, std::vector<int64_t> dims) {
    const double atol = std::max(1e-5, 4 * test::max_abs_diff(rf, rd));
    test::expect_allclose(got, rd, atol, 1e-4, name, dims);
  };
  const bool vec_ok = s.H % kVec == 0;
  const Outputs tr = transcribe(P, geo, /*training=*/true, vec_ok);
  check(tr.hs, of.hs, od.hs, "hs", {T, B, H});
  check(tr.cs, of.cs, od.cs, "cs", {T, B, H});
  check(tr.gates, of.gates, od.gates, "gates", {T, B, 4 * H});
  EXPECT_GT(test::norm2(tr.hs), 0.0);
  // Inference: the same h and c bitwise; the pre-activations are left in `gates`.
  if (!full) return;
  const Outputs inf = transcribe(P, geo, /*training=*/false, vec_ok);
  EXPECT_EQ(inf.hs, tr.hs);
  EXPECT_EQ(inf.cs, tr.cs);
  if (vec_ok) {  // the scalar copy path (misaligned state) fills shared memory identically
    const Outputs sc = transcribe(P, geo, /*training=*/true, /*vec_copy=*/false);
    EXPECT_EQ(sc.hs, tr.hs);
    EXPECT_EQ(sc.cs, tr.cs);
    EXPECT_EQ(sc.gates, tr.gates);
  }
}

// The shapes the brief names (H 33, 200; B 1, 3, 32) on an H100's geometry, plus H not a
// multiple of 4 or 8, partial last CTAs, dense and one-hot, peepholes on and off.
TEST(SplitKTranscription, OddShapesMatchReference) {
  std::set<int> lanes;
  for (const LayerShape& sh :
       {LayerShape{5, 1, 7, 33, true, false}, LayerShape{5, 3, 7, 33, true, true},
        LayerShape{4, 32, 9, 33, false, false}, LayerShape{3, 1, 80, 200, true, true},
        LayerShape{3, 3, 13, 200, true, false},
        LayerShape{3, 32, 80, 200, true, true},  // seed layer 0
        LayerShape{2, 32, 200, 200, false, false},
        LayerShape{3, 7, 5, 202, true, false},  // H % 8 == 2
        LayerShape{3, 7, 5, 257, true, false},  // U 2, last CTA 1 unit
        LayerShape{2, 5, 3, 3, true, false}, LayerShape{2, 2, 1, 1, true, true}})
    check_against_reference({sh}, &lanes);
  for (int L : {16, 32}) EXPECT_TRUE(lanes.count(L)) << "no case used L=" << L;
}

// Chosen units per CTA (1 CTA, partial last CTAs) and batch tiles (several tiles per step,
// a last tile with padding rows), and small devices (7 SMs, 24 / 32 KB), the second forcing
// automatic tiling; lane counts 4, 8 and 16 (32 is in OddShapesMatchReference).
TEST(SplitKTranscription, ChosenUnitsTilesAndSmallDevice) {
  std::set<int> lanes;
  const std::vector<Case> cases = {
      {{3, 7, 5, 33, true, false}, kH100Sms, kH100Optin, 33, 0},    // one CTA, 66 tasks: L 4
      {{3, 7, 5, 33, true, true}, kH100Sms, kH100Optin, 5, 4},      // 7 CTAs, 2 tiles
      {{3, 33, 5, 33, true, false}, kH100Sms, kH100Optin, 10, 8},   // 5 tiles, last has padding
      {{2, 32, 9, 200, true, false}, kH100Sms, kH100Optin, 3, 12},  // tiles 12,12,8
      {{2, 64, 8, 64, true, false}, kH100Sms, kH100Optin, 16, 0},   // 256 tasks: L 4, 4 passes
      {{2, 13, 6, 40, false, false}, 7, 24 * 1024, 0, 0},           // U 6, auto tiles
      {{2, 30, 6, 100, true, true}, 7, 32 * 1024, 0, 0},            // U 15, 2 auto tiles of 16
  };
  for (const Case& k : cases) check_against_reference(k, &lanes);
  for (int L : {4, 8, 16}) EXPECT_TRUE(lanes.count(L)) << "no case used L=" << L;
}

// The larger benchmark shapes on an H100's geometry (T 1-2 to keep the host time small):
// H 512, B 64 (L 4, one tile) and H 1024, B 64 (automatic batch tiles beside a 128 KB R slice).
TEST(SplitKTranscription, BenchmarkShapesMatchReference) {
  const Geometry m1 = splitk::make_geometry(64, 512, kH100Sms, kH100Optin);
  EXPECT_EQ(m1.U, 4);
  EXPECT_EQ(m1.tiles, 1);
  EXPECT_EQ(m1.L, 4);
  const Geometry m2 = splitk::make_geometry(64, 1024, kH100Sms, kH100Optin);
  EXPECT_TRUE(m2.why_not.empty()) << m2.why_not;
  EXPECT_EQ(m2.U, 8);
  EXPECT_EQ(m2.tiles, 3);
  check_against_reference({{2, 64, 16, 512, true, false}}, nullptr, /*full=*/false);
  check_against_reference({{1, 64, 16, 1024, true, false}}, nullptr, /*full=*/false);
}

// Geometry facts the docs quote (H100: 132 SMs, 232448 bytes opt-in).
TEST(SplitKPlan, GeometryOnH100) {
  struct Row {
    int B, H, U, P, Hp, Bt, tiles, L;
    std::size_t smem;
  };
  for (const Row& r :
       {Row{32, 200, 2, 100, 204, 32, 1, 16, 32640}, Row{64, 512, 4, 128, 516, 64, 1, 4, 165120},
        Row{64, 1024, 8, 128, 1028, 24, 3, 4, 230272}, Row{1, 200, 2, 100, 204, 4, 1, 32, 9792},
        Row{32, 33, 1, 33, 36, 32, 1, 16, 5184}}) {
    const Geometry g = splitk::make_geometry(r.B, r.H, kH100Sms, kH100Optin);
    SCOPED_TRACE("B=" + std::to_string(r.B) + " H=" + std::to_string(r.H));
    EXPECT_TRUE(g.why_not.empty()) << g.why_not;
    EXPECT_EQ(g.U, r.U);
    EXPECT_EQ(g.P, r.P);
    EXPECT_EQ(g.Hp, r.Hp);
    EXPECT_EQ(g.Bt, r.Bt);
    EXPECT_EQ(g.tiles, r.tiles);
    EXPECT_EQ(g.L, r.L);
    EXPECT_EQ(g.smem_bytes, r.smem);
    EXPECT_EQ(g.smem_bytes, 4 * std::size_t(4 * g.U + g.Bt) * g.Hp);
  }
  for (int H = 1; H <= 2100; ++H) {
    const int Hp = splitk::row_stride(H);
    ASSERT_TRUE(Hp >= H && Hp % 4 == 0 && Hp % 8 == 4 && Hp - H < 8) << "H=" << H;
  }
  const Geometry big = splitk::make_geometry(1, 4096, kH100Sms, kH100Optin);
  EXPECT_FALSE(big.why_not.empty());  // the R slice alone (2 MB) does not fit
}

// Bank-conflict model of one shared-memory load instruction: 32 banks of 4 bytes; a warp's
// 16-byte loads are served per quarter-warp (8 lanes), 4-byte loads per full warp; within one
// phase, distinct addresses that share a bank serialise (equal addresses broadcast). Returns
// the worst number of distinct addresses per bank in any phase.
int conflict_degree(const std::vector<std::pair<int, int64_t>>& lane_word, int bytes) {
  const int phase_lanes = bytes == 16 ? 8 : 32, words = bytes / 4;
  int worst = 0;
  for (int ph = 0; ph < 32 / phase_lanes; ++ph) {
    std::vector<std::set<int64_t>> bank(32);
    for (const auto& [lane, word] : lane_word)
      if (lane / phase_lanes == ph)
        for (int v = 0; v < words; ++v) bank[(word + v) % 32].insert(word);
    for (const auto& b : bank) worst = std::max(worst, static_cast<int>(b.size()));
  }
  return worst;
}

// Variant (c): every load of the chunk loop (4 h rows, 4 R rows), every warp, pass and
// iteration, for the benchmark shapes and the small-task cases.
int splitk_worst_conflict(const Geometry& g) {
  const int L = g.L, C = g.C, ngroups = kThreads / L;
  int worst = 0;
  for (int bt0 = 0; bt0 < g.Bp; bt0 += g.Bt) {
    const int trows = std::min(g.Bt, g.Bp - bt0), nu = g.U;  // a full CTA
    const int ntask = trows / kRowsPerTask * nu;
    for (int warp = 0; warp < kThreads / 32; ++warp)
      for (int pass = 0; pass * ngroups < ntask; ++pass)
        for (int it = 0; it * L < C; ++it)
          for (int load = 0; load < 8; ++load) {
            std::vector<std::pair<int, int64_t>> acc;
            for (int lane = 0; lane < 32; ++lane) {
              const int tid = warp * 32 + lane, gi = tid / L, l = tid % L;
              const int tau = gi + pass * ngroups, c = l + it * L;
              if (tau >= ntask || c >= C) continue;
              const int u = splitk::task_unit(tau, nu), row0 = splitk::task_block(tau, nu) * 4;
              const int row = load < 4 ? 4 * g.U + row0 + load : u * 4 + (load - 4);
              acc.emplace_back(lane, int64_t(row) * g.Hp + kVec * c);
            }
            worst = std::max(worst, conflict_degree(acc, 16));
          }
  }
  return worst;
}

// Variant (b)'s inner loop (kernels/lstm_layer_persistent.cu: thread = (b, unit) pair,
// hprev[b*H + k] for one k across the warp, 128 threads), the pattern this variant replaces.
int scalar_h_conflict(int B, int H, int U) {
  int worst = 0;
  for (int warp = 0; warp < 4; ++warp) {
    std::vector<std::pair<int, int64_t>> acc;
    for (int lane = 0; lane < 32; ++lane) {
      const int pair = warp * 32 + lane;
      if (pair >= B * U) continue;
      acc.emplace_back(lane, int64_t(pair / U) * H + 0);
    }
    worst = std::max(worst, conflict_degree(acc, 4));
  }
  return worst;
}

TEST(SplitKPlan, InnerLoopLoadsAreBankConflictFree) {
  for (const auto& [B, H] : std::vector<std::pair<int, int>>{
           {32, 200}, {64, 512}, {64, 1024}, {1, 200}, {3, 33}, {32, 33}, {7, 257}}) {
    const Geometry g = splitk::make_geometry(B, H, kH100Sms, kH100Optin);
    const int d = splitk_worst_conflict(g);
    std::printf("variant (c) B=%d H=%d (L=%d, U=%d, Hp=%d): worst %d-way\n", B, H, g.L, g.U, g.Hp,
                d);
    EXPECT_EQ(d, 1) << "B=" << B << " H=" << H << " L=" << g.L;
  }
  // L = 4 with an odd U: the quarter-warp pairs where the unit index wraps (u = U-1 -> 0,
  // next batch block) read R rows 4(U-1) apart, a multiple of 8 rows: 2-way there.
  const Geometry odd_u = splitk::make_geometry(64, 300, kH100Sms, kH100Optin);
  EXPECT_EQ(odd_u.L, 4);
  EXPECT_EQ(odd_u.U, 3);
  EXPECT_EQ(splitk_worst_conflict(odd_u), 2);
  // Without the +4 skew (Hp = 512), two 4-lane tasks in a quarter-warp would collide.
  Geometry skewless = splitk::make_geometry(64, 512, kH100Sms, kH100Optin);
  skewless.Hp = 512;
  skewless.C = 128;
  EXPECT_EQ(splitk_worst_conflict(skewless), 2);
  // Variant (b)'s h loads (model): 4-way at the seed shape, 8-way at H 512, B 64.
  EXPECT_EQ(scalar_h_conflict(32, 200, 2), 4);
  EXPECT_EQ(scalar_h_conflict(64, 512, 4), 8);
  std::printf("variant (b) h loads: B 32 H 200 %d-way, B 64 H 512 %d-way\n",
              scalar_h_conflict(32, 200, 2), scalar_h_conflict(64, 512, 4));
}

}  // namespace
}  // namespace melodl
