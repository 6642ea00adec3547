// lstm/cost.cpp: see cost.h. The probe multiplies two 384 x 384 matrices with Eigen, as the
// CPU backend's GEMMs do, compiled with the backend's -march flags (lstm/CMakeLists.txt).
#include "lstm/cost.h"

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>

namespace melodl::lstm {

double train_flops_per_symbol(int layers, int hidden, int vocab) {
  const double h = hidden, L = layers;
  return L * 24.0 * h * h + (L - 1) * 24.0 * h * h + 6.0 * h * vocab;
}

double infer_flops_per_symbol(int layers, int hidden, int vocab) {
  const double h = hidden, L = layers;
  return L * 8.0 * h * h + (L - 1) * 8.0 * h * h + 2.0 * h * vocab;
}

double training_update_flops(const NetworkConfig& net, const TrainConfig& train, int batch,
                             std::int64_t sequence_length) {
  const double T = static_cast<double>(
      std::max<std::int64_t>(train.tbptt_fwd > 0 ? train.tbptt_fwd : sequence_length, 1));
  return T * std::max(batch, 1) *
         train_flops_per_symbol(std::max(net.layers, 0), std::max(net.hidden, 0),
                                std::max(net.vocab, 0));
}

double measure_cpu_flops(int threads) {
  check_cpu_support();  // the probe runs the backend's instructions
  constexpr int n = 384;
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Mat a = Mat::Constant(n, n, 0.5f), b = Mat::Constant(n, n, 0.25f);
  Mat c(n, n);
  double best = 1e30;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
  }
  // Keeps the product from being optimised away.
  if (!(c(0, 0) > 0.0f)) return 0.0;
  return 2.0 * n * n * n / std::max(best, 1e-9) * std::max(threads, 1);
}

std::string format_seconds(double s) {
  char buf[64];
  if (s < 90)
    std::snprintf(buf, sizeof buf, "%.3g s", s);
  else if (s < 5400)
    std::snprintf(buf, sizeof buf, "%.3g min", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.3g h", s / 3600);
  return buf;
}

}  // namespace melodl::lstm
