// pipeline/run_time.cpp: see run_time.h.
#include "pipeline/run_time.h"

#include <algorithm>
#include <cstdio>

#include "base/error.h"
#include "lstm/cost.h"

namespace melodl::pipeline::detail {

std::string check_batch_time(double flops, double flops_per_s, double budget_s,
                             const std::string& what) {
  const double s = lstm::update_seconds(flops, flops_per_s);
  char head[160];
  std::snprintf(head, sizeof head,
                "one batch (%.0f GFLOP) takes at least %s on this CPU (%.0f GFLOP/s at best)",
                flops * 1e-9, lstm::format_seconds(s).c_str(), flops_per_s * 1e-9);
  if (budget_s > 0 && s > budget_s)
    throw InvalidArgument(what + ": " + head + ", longer than the time budget of " +
                          lstm::format_seconds(budget_s) +
                          ", which is checked only between batches: give a longer --time-budget, "
                          "or a smaller --hidden, --layers, --batch or --window");
  if (budget_s <= 0 && s >= 60)
    return std::string(head) +
           ": progress, checkpoints and signals are handled only between batches";
  return "";
}

std::string check_run_time(const TrainSettings& settings, int vocab, std::size_t longest_window,
                           std::size_t windows, double budget_s) {
  if (lstm::resolve_device(settings.execution.device) != lstm::Device::cpu) return "";
  const int B = std::min<int>(settings.batch, static_cast<int>(windows));
  const double flops =
      lstm::train_flops_per_symbol(settings.network.layers, settings.network.hidden, vocab) *
      static_cast<double>(longest_window) * B;
  if (flops < 1e10) return "";  // under 0.1 s on any CPU this backend runs on
  return check_batch_time(
      flops, lstm::measure_cpu_flops(settings.execution.resolved_threads()), budget_s,
      "training (--hidden " + std::to_string(settings.network.hidden) + ", --layers " +
          std::to_string(settings.network.layers) + ", --batch " + std::to_string(settings.batch) +
          ", --window " + std::to_string(longest_window) + ")");
}

}  // namespace melodl::pipeline::detail
