// examples/link_lstm/main.cpp: trains melodl::lstm on a toy repeating sequence through the
// installed headers and library; prints the loss and fails (exit 1) when it did not drop.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "lstm/sampler.h"
#include "lstm/trainer.h"

int main() {
  using namespace melodl::lstm;
  const std::vector<std::int32_t> pattern = {0, 1, 2, 0, 1, 3};
  NetworkConfig cfg;
  cfg.vocab = 4;
  cfg.layers = 1;
  cfg.hidden = 16;
  ExecutionOptions exec;  // where and how it computes: the CPU, one thread
  exec.threads = 1;
  TrainConfig tc;
  tc.optimizer.kind = OptimizerKind::adam;
  tc.optimizer.lr = 0.02f;
  tc.tbptt_fwd = tc.tbptt_bwd = 12;
  Trainer trainer(Network(cfg, exec), tc);
  const int T = 24, B = 4;
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    std::vector<std::int32_t> in, out;
    for (int t = 0; t < T; ++t)
      for (int b = 0; b < B; ++b) {
        in.push_back(pattern[(t + b + step) % pattern.size()]);
        out.push_back(pattern[(t + b + step + 1) % pattern.size()]);
      }
    const StepStats s = trainer.train_batch(Batch{T, B, in, out, {}});
    if (step == 0) first = s.mean_nats();
    last = s.mean_nats();
  }
  std::printf("loss first=%.4f last=%.4f nats/symbol\n", first, last);
  return last < 0.5 * first ? 0 : 1;
}
