// bench/dist_scaling.cpp: data-parallel training throughput, 1 vs N MPI ranks
// (docs/benchmarks.md "Data-parallel training over MPI", docs/distributed.md).
// Usage: mpirun -np N dist_scaling [hidden=512] [global batch=64] [T=50] [updates=5] [threads=1]
// Each rank trains a 2-layer LSTM (V 60, peepholes) on its share (batch/N streams) of a
// global minibatch of random symbols, one TBPTT segment of T steps per update; rank 0 prints
// the wall time per update (after one warm-up update), the global symbols per second and the
// time spent in the gradient sum (dist::MpiReducer::sum) per update.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dist/mpi_reducer.h"
#include "lstm/trainer.h"

namespace ml = melodl::lstm;

int main(int argc, char** argv) {
  auto arg = [&](int i, int def) { return argc > i ? std::atoi(argv[i]) : def; };
  const int H = arg(1, 512), Bg = arg(2, 64), T = arg(3, 50), updates = arg(4, 5),
            threads = arg(5, 1);
  melodl::dist::MpiReducer mpi;
  const int N = mpi.ranks(), r = mpi.rank(), B = (r + 1) * Bg / N - r * Bg / N;
  ml::NetworkConfig net;
  net.vocab = 60;
  net.layers = 2;
  net.hidden = H;
  net.peepholes = true;
  ml::ExecutionOptions ex;
  ex.threads = threads;
  ml::TrainConfig tc;
  tc.optimizer.kind = ml::OptimizerKind::adam;
  tc.optimizer.lr = 1e-3f;
  tc.tbptt_fwd = tc.tbptt_bwd = T;
  ml::Trainer trainer(ml::Network(net, ex), tc);
  trainer.set_reducer(&mpi);
  trainer.broadcast_from_root();
  ml::Rng rng(100 + static_cast<std::uint64_t>(r));
  std::vector<std::int32_t> in(static_cast<std::size_t>(T) * B), tg(in.size());
  for (auto& x : in) x = static_cast<std::int32_t>(rng.below(60));
  for (auto& x : tg) x = static_cast<std::int32_t>(rng.below(60));
  const ml::Batch batch{T, B, in, tg, {}};
  trainer.train_batch(batch);  // warm-up
  mpi.barrier();
  const double sum0 = mpi.sum_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < updates; ++k) trainer.train_batch(batch);
  mpi.barrier();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // the slowest rank's time in the sums (the others wait there for it)
  double sums[1] = {(mpi.sum_seconds() - sum0) / updates};
  mpi.sum(sums);
  // The sum alone, all ranks lined up first: its cost without waiting for a slower rank.
  std::vector<float> grad(trainer.network().num_params(), 1.0f);
  double alone = 0;
  for (int k = 0; k < 5; ++k) {
    mpi.barrier();
    const auto s0 = std::chrono::steady_clock::now();
    mpi.sum(grad);
    alone += std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count() / 5;
  }
  if (r == 0)
    std::printf(
        "ranks %d, H %d, global batch %d (%d per rank), T %d, %d thread(s) per rank: "
        "%.1f ms per update, %.0f symbols/s, gradient sum %.1f ms per update (mean "
        "over ranks, waiting included; %.1f ms alone), %zu parameters\n",
        N, H, Bg, Bg / N, T, threads, 1e3 * wall / updates,
        static_cast<double>(Bg) * T * updates / wall, 1e3 * sums[0] / N, 1e3 * alone,
        trainer.network().num_params());
  return 0;
}
