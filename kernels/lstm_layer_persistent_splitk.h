// kernels/lstm_layer_persistent_splitk.h: the geometry of the variant-(c) persistent layer
// forward (kernels/lstm_layer_persistent_splitk.cu): how hidden units map to CTAs, the padded
// shared-memory rows, the batch tiles of h_{t-1}, the lanes per task, and which task and row
// each thread works on. CUDA-free: the launcher and the kernel use it, and so does the CPU
// transcription of the kernel (tests/kernels/lstm_layer_splitk_transcription_test.cpp), so
// both index the same way. The launcher API is in kernels/lstm_layer.h.
//
// Shared memory of one CTA (fp32), Hp = row_stride(H) floats per row:
//   Rs [4U][Hp]: row u*4+q = column q*H + j0 + u of R (gate q of the CTA's unit u), k along
//                the row; zero for k >= H and for units the CTA does not own
//   ht [Bt][Hp]: rows b0 .. b0+Bt-1 of h_{t-1} (one batch tile); zero for k >= H
// A task is (4 batch rows of the tile, 1 unit) with all 4 gates: 16 dot products over k,
// split across L lanes (lane l takes the 16-byte chunks l, l+L, ...), then summed by an
// xor-shuffle reduction that leaves lane l with the 4 gate sums of task row row_of_lane(l, L).
#pragma once
#include <cstddef>
#include <string>

#if defined(__CUDACC__)
#define MELODL_SPLITK_HD __host__ __device__
#else
#define MELODL_SPLITK_HD
#endif

namespace melodl::splitk {

constexpr int kThreads = 256;    // threads per CTA (8 warps); one CTA per SM
constexpr int kRowsPerTask = 4;  // batch rows per task: each loaded R chunk feeds 4 rows
constexpr int kVec = 4;          // floats per 16-byte shared-memory load (float4)
constexpr int kMinLanes = 4;     // lanes per task: 4, 8, 16 or 32 (a power of two <= 32)
constexpr int kMaxLanes = 32;

MELODL_SPLITK_HD constexpr int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Floats per shared-memory row: H rounded up to the vector width, plus 4 when that is a
// multiple of 8, so Hp = 4 (mod 8). Then rows 4 apart start 16 banks apart (4*Hp = 16
// mod 32): two 4-lane tasks in one quarter-warp phase (L = 4) that read rows of units u and
// u+1 (or of batch blocks bb and bb+1) hit disjoint halves of the 32 banks.
MELODL_SPLITK_HD constexpr int row_stride(int H) {
  const int r = round_up(H, kVec);
  return r % 8 == 0 ? r + kVec : r;
}

// Task tau of a tile -> (unit, batch block); units vary fastest, so neighbouring tasks
// share their h rows (broadcast) and read R rows 4 apart.
MELODL_SPLITK_HD constexpr int task_unit(int tau, int nu) { return tau % nu; }
MELODL_SPLITK_HD constexpr int task_block(int tau, int nu) { return tau / nu; }

// After the reduction lane l (of L) holds the sums of task row 2*bit(L/2) + bit(L/4); the
// lanes with l % (L/4) == 0 write it (the others hold the same values).
MELODL_SPLITK_HD constexpr int row_of_lane(int l, int L) {
  return 2 * ((l & (L / 2)) ? 1 : 0) + ((l & (L / 4)) ? 1 : 0);
}
MELODL_SPLITK_HD constexpr bool lane_writes(int l, int L) { return (l & (L / 4 - 1)) == 0; }

// Lanes per task: as many as keep every task of a tile in one pass of the CTA's threads
// (tasks * L <= kThreads), at most 32 (a warp) and at least 4, and no more than the
// chunks of a row need (L / 2 < C).
inline int lanes_per_task(int tasks, int chunks) {
  int L = kMaxLanes;
  while (L > kMinLanes && static_cast<long long>(tasks) * L > kThreads) L /= 2;
  while (L > kMinLanes && L / 2 >= chunks) L /= 2;
  return L;
}

struct Geometry {
  int B = 0, H = 0;
  int U = 0;      // hidden units per CTA (the last CTA may own fewer)
  int P = 0;      // CTAs: ceil(H / U)
  int Hp = 0;     // floats per shared-memory row (row_stride(H))
  int C = 0;      // 16-byte chunks per row: Hp / 4
  int Bp = 0;     // B rounded up to kRowsPerTask
  int Bt = 0;     // batch rows per tile of h_{t-1} in shared memory (a multiple of 4, <= Bp)
  int tiles = 0;  // ceil(Bp / Bt) tiles per step
  int L = 0;      // lanes per task
  std::size_t smem_bytes = 0;  // dynamic shared memory per CTA: 4 * (4U + Bt) * Hp
  std::string why_not;         // empty when the shape fits smem_limit
};

// The geometry for B, H on a device with `sms` multiprocessors and `smem_limit` bytes of
// (opt-in) shared memory per CTA. units_per_cta: 0 = ceil(H / sms), else in [1, H].
// batch_tile: 0 = all of B when it fits, else the fewest tiles of equal size (rounded up
// to 4) that fit; otherwise a multiple of 4 (clamped to Bp). Arguments are checked by the
// caller (the launcher throws InvalidArgument before calling this).
inline Geometry make_geometry(int B, int H, int sms, std::size_t smem_limit, int units_per_cta = 0,
                              int batch_tile = 0) {
  Geometry g;
  g.B = B;
  g.H = H;
  g.U = units_per_cta > 0 ? units_per_cta : (H + sms - 1) / sms;
  g.P = (H + g.U - 1) / g.U;
  g.Hp = row_stride(H);
  g.C = g.Hp / kVec;
  g.Bp = round_up(B, kRowsPerTask);
  const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(g.Hp);
  const std::size_t r_bytes = row_bytes * 4 * static_cast<std::size_t>(g.U);
  const std::size_t min_bytes = r_bytes + row_bytes * kRowsPerTask;
  if (min_bytes > smem_limit) {
    g.why_not = "needs " + std::to_string(min_bytes) +
                " bytes of shared memory per CTA (R slice and one 4-row tile of h), device "
                "allows " +
                std::to_string(smem_limit);
    return g;
  }
  if (batch_tile > 0) {
    g.Bt = batch_tile < g.Bp ? batch_tile : g.Bp;
  } else {
    const int fit_rows =
        static_cast<int>((smem_limit - r_bytes) / row_bytes) / kRowsPerTask * kRowsPerTask;
    if (fit_rows >= g.Bp) {
      g.Bt = g.Bp;
    } else {
      const int tiles = (g.Bp + fit_rows - 1) / fit_rows;
      g.Bt = round_up((g.Bp + tiles - 1) / tiles, kRowsPerTask);
    }
  }
  g.tiles = (g.Bp + g.Bt - 1) / g.Bt;
  g.smem_bytes = r_bytes + row_bytes * static_cast<std::size_t>(g.Bt);
  if (g.smem_bytes > smem_limit) {
    g.why_not = "needs " + std::to_string(g.smem_bytes) + " bytes of shared memory per CTA (" +
                std::to_string(g.Bt) + "-row tiles), device allows " + std::to_string(smem_limit);
    return g;
  }
  g.L = lanes_per_task(g.Bt / kRowsPerTask * g.U, g.C);
  return g;
}

}  // namespace melodl::splitk
