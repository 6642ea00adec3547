// tests/dist/dist_equivalence.cpp: run by ctest under `mpirun -np 2` (tests/dist/CMakeLists.txt).
// Two ranks with dist::MpiReducer, each training on its half (16 streams) of every minibatch
// of 32, against one trainer without a reducer on the whole minibatch (computed on rank 0),
// for 20 updates and each optimiser: the weights must agree within a float tolerance, and
// every rank must hold bitwise the same weights as rank 0. Exit status 0 = pass.
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "dist/mpi_reducer.h"
#include "lstm/trainer.h"

namespace ml = melodl::lstm;

namespace {

constexpr int kV = 20, kT = 30, kB = 32, kUpdates = 20;

// Minibatch k as [T,B] inputs/targets/mask, streams [b0, b1) of it (the same data everywhere).
struct Data {
  std::vector<std::int32_t> in, tg;
  std::vector<float> mask;
};
Data make_batch(int k, int b0, int b1) {
  ml::Rng rng(1000 + static_cast<std::uint64_t>(k));
  Data all, d;
  all.in.resize(kT * kB);
  all.tg.resize(kT * kB);
  all.mask.resize(kT * kB);
  for (int t = 0; t < kT; ++t)
    for (int b = 0; b < kB; ++b) {
      all.in[t * kB + b] = static_cast<std::int32_t>(rng.below(kV));
      all.tg[t * kB + b] = static_cast<std::int32_t>(rng.below(kV));
      all.mask[t * kB + b] = t < kT - (b % 7) ? 1.0f : 0.0f;  // shorter windows, padded
    }
  const int B = b1 - b0;
  for (int t = 0; t < kT; ++t)
    for (int b = b0; b < b1; ++b) {
      d.in.push_back(all.in[t * kB + b]);
      d.tg.push_back(all.tg[t * kB + b]);
      d.mask.push_back(all.mask[t * kB + b]);
    }
  (void)B;
  return d;
}

ml::Trainer make_trainer(ml::OptimizerKind kind) {
  ml::NetworkConfig net;
  net.vocab = kV;
  net.layers = 2;
  net.hidden = 24;
  net.peepholes = true;
  net.seed = 7;
  ml::ExecutionOptions ex;
  ex.threads = 1;
  ml::TrainConfig tc;
  tc.optimizer.kind = kind;
  tc.optimizer.lr = kind == ml::OptimizerKind::sgd ? 0.1f : 0.01f;
  tc.optimizer.l2 = 1e-4f;
  tc.optimizer.clip_norm = 5.0f;
  tc.tbptt_fwd = 10;  // 3 segments per minibatch: 3 updates
  tc.tbptt_bwd = 10;
  return ml::Trainer(ml::Network(net, ex), tc);
}

}  // namespace

int main() {
  melodl::dist::MpiReducer mpi(60.0);
  const int N = mpi.ranks(), r = mpi.rank();
  int failures = 0;
  for (const auto kind : {ml::OptimizerKind::adam, ml::OptimizerKind::dl4j_rmsprop,
                          ml::OptimizerKind::sgd, ml::OptimizerKind::rmsprop}) {
    ml::Trainer part = make_trainer(kind);
    part.set_reducer(&mpi);
    part.broadcast_from_root();
    const int b0 = r * kB / N, b1 = (r + 1) * kB / N;
    int updates = 0;
    for (int k = 0; updates < kUpdates; ++k) {
      const Data d = make_batch(k, b0, b1);
      part.train_batch({kT, b1 - b0, d.in, d.tg, d.mask});
      updates = static_cast<int>(part.step_count());
    }
    // every rank holds rank 0's weights, bit for bit
    std::vector<float> root(part.network().params().begin(), part.network().params().end());
    mpi.broadcast(root, 0);
    double differing[1] = {0};
    const auto mine = std::as_const(part).network().params();
    for (std::size_t i = 0; i < root.size(); ++i) differing[0] += root[i] != mine[i];
    mpi.sum(differing);
    if (differing[0] != 0) {
      if (r == 0)
        std::printf("FAIL %s: %g weights differ between ranks\n", ml::to_string(kind).c_str(),
                    differing[0]);
      ++failures;
    }
    if (r == 0) {
      ml::Trainer whole = make_trainer(kind);
      for (int k = 0; whole.step_count() < part.step_count(); ++k) {
        const Data d = make_batch(k, 0, kB);
        whole.train_batch({kT, kB, d.in, d.tg, d.mask});
      }
      const auto w = std::as_const(whole).network().params();
      double max_abs = 0, max_w = 0;
      std::size_t bitwise = 0;
      for (std::size_t i = 0; i < w.size(); ++i) {
        max_abs = std::max(max_abs, std::abs(double(w[i]) - double(mine[i])));
        max_w = std::max(max_w, std::abs(double(w[i])));
        bitwise += w[i] == mine[i];
      }
      const bool ok = max_abs <= 1e-4 * std::max(1.0, max_w);
      std::printf(
          "%s %s: %d ranks x batch %d vs 1 x %d after %lld updates: max |dw| %.3g (max |w| "
          "%.3g), %zu of %zu weights bitwise equal\n",
          ok ? "ok  " : "FAIL", ml::to_string(kind).c_str(), N, kB / N, kB,
          static_cast<long long>(part.step_count()), max_abs, max_w, bitwise, w.size());
      failures += !ok;
    }
  }
  double f[1] = {static_cast<double>(failures)};
  mpi.sum(f);
  return f[0] == 0 ? 0 : 1;
}
