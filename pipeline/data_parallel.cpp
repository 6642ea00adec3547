// pipeline/data_parallel.cpp: see data_parallel.h.
#include "pipeline/data_parallel.h"

#include <algorithm>

namespace melodl::pipeline {

bool writes_run_files(const lstm::GradientReducer* reducer) {
  return !reducer || reducer->rank() == 0;
}

std::pair<std::size_t, std::size_t> rank_share(std::size_t first, std::size_t last,
                                               const lstm::GradientReducer* reducer) {
  if (!reducer) return {first, last};
  const std::size_t n = last - first, N = static_cast<std::size_t>(reducer->ranks()),
                    r = static_cast<std::size_t>(reducer->rank());
  return {first + r * n / N, first + (r + 1) * n / N};
}

RankBatch rank_batch(const std::vector<Window>& windows, const std::vector<std::size_t>& order,
                     std::size_t first, std::size_t last, const lstm::GradientReducer* reducer) {
  std::size_t T = 0;
  for (std::size_t k = first; k < last; ++k) T = std::max(T, windows[order[k]].symbols.size() - 1);
  const auto [begin, end] = rank_share(first, last, reducer);
  RankBatch r;
  r.T = static_cast<int>(T);
  r.sequences = static_cast<int>(end - begin);
  r.B = std::max(1, r.sequences);
  const std::size_t B = static_cast<std::size_t>(r.B);
  r.inputs.assign(T * B, 0);
  r.targets.assign(T * B, 0);
  r.mask.assign(T * B, 0.0f);
  for (std::size_t j = 0; j < end - begin; ++j) {
    const auto& s = windows[order[begin + j]].symbols;
    for (std::size_t t = 0; t + 1 < s.size(); ++t) {
      r.inputs[t * B + j] = s[t];
      r.targets[t * B + j] = s[t + 1];
      r.mask[t * B + j] = 1.0f;
    }
  }
  return r;
}

bool on_all_ranks(lstm::GradientReducer* reducer, bool value) {
  if (!reducer) return value;
  double bad[1] = {value ? 0.0 : 1.0};
  reducer->sum(bad);
  return bad[0] == 0.0;
}

StopDecision agree_on_stop(lstm::GradientReducer* reducer, bool stop, bool out_of_time) {
  if (!reducer) return {stop, out_of_time};
  double v[2] = {stop ? 1.0 : 0.0, reducer->rank() == 0 && out_of_time ? 1.0 : 0.0};
  reducer->sum(v);
  return {v[0] > 0, v[1] > 0};
}

std::optional<double> from_rank0(lstm::GradientReducer* reducer, std::optional<double> value) {
  if (!reducer) return value;
  const bool mine = reducer->rank() == 0 && value;
  double v[2] = {mine ? 1.0 : 0.0, mine ? *value : 0.0};
  reducer->sum(v);
  return v[0] > 0 ? std::optional<double>(v[1]) : std::nullopt;
}

ModelScore score_network_shared(const lstm::Network& net, const Vocabulary& vocab,
                                const std::vector<CorpusMelody>& melodies,
                                lstm::GradientReducer* reducer) {
  if (!reducer) return score_network(net, vocab, melodies);
  std::vector<CorpusMelody> mine;
  for (std::size_t k = static_cast<std::size_t>(reducer->rank()); k < melodies.size();
       k += static_cast<std::size_t>(reducer->ranks()))
    mine.push_back(melodies[k]);
  const ModelScore s = score_network(net, vocab, mine);
  double v[4] = {s.bits, static_cast<double>(s.symbols), static_cast<double>(s.notes),
                 static_cast<double>(s.melodies)};
  reducer->sum(v);
  ModelScore total;
  total.bits = v[0];
  total.symbols = static_cast<std::size_t>(v[1]);
  total.notes = static_cast<std::size_t>(v[2]);
  total.melodies = static_cast<std::size_t>(v[3]);
  return total;
}

}  // namespace melodl::pipeline
