// pipeline/data_parallel.h: what a TrainingRun does differently when it is one rank of a
// data-parallel job (TrainSettings::reducer, docs/distributed.md). Every decision that
// changes the control flow (stop, time budget, skip, reload) must come out the same on every
// rank, or one rank would wait in a collective the others never reach: these helpers agree
// on them. Without a reducer each is the one-process behaviour. Tests: tests/dist/.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "lstm/network.h"
#include "lstm/reducer.h"
#include "lstm/trainer.h"
#include "pipeline/composing.h"
#include "pipeline/corpus.h"

namespace melodl::pipeline {

// Whether this process writes the run's files (checkpoints, samples, manifest, logs): rank 0,
// or the only process.
bool writes_run_files(const lstm::GradientReducer* reducer);

// This rank's part [begin, end) of the windows [first, last) of one minibatch: consecutive
// slices in rank order, sizes differing by at most one (empty when there are fewer windows
// than ranks). The union over the ranks is the whole minibatch, so N ranks train on the same
// windows as one process with the same --batch.
std::pair<std::size_t, std::size_t> rank_share(std::size_t first, std::size_t last,
                                               const lstm::GradientReducer* reducer);

// This rank's part (rank_share) of the minibatch of windows[order[first .. last)] as a
// time-major batch: T is the longest window of the WHOLE minibatch, so every rank runs the
// same TBPTT segments; shorter windows are padded at the end and masked. A rank without a
// window gets one all-masked stream (no loss, no gradient); `sequences` counts real ones.
struct RankBatch {
  int T = 0, B = 0, sequences = 0;
  std::vector<std::int32_t> inputs, targets;
  std::vector<float> mask;
  lstm::Batch batch() const { return {T, B, inputs, targets, mask}; }
};
RankBatch rank_batch(const std::vector<Window>& windows, const std::vector<std::size_t>& order,
                     std::size_t first, std::size_t last, const lstm::GradientReducer* reducer);

// true on every rank when `value` is true on every rank.
bool on_all_ranks(lstm::GradientReducer* reducer, bool value);

// Stop when any rank was asked to (SIGINT/SIGTERM); out of time by rank 0's clock.
struct StopDecision {
  bool stop = false;
  bool out_of_time = false;
};
StopDecision agree_on_stop(lstm::GradientReducer* reducer, bool stop, bool out_of_time);

// Rank 0's value on every rank (a learning rate asked for by rank 0's live view).
std::optional<double> from_rank0(lstm::GradientReducer* reducer, std::optional<double> value);

// score_network over the validation lines, each rank scoring every ranks()-th line (from its
// rank), the sums added over the ranks.
ModelScore score_network_shared(const lstm::Network& net, const Vocabulary& vocab,
                                const std::vector<CorpusMelody>& melodies,
                                lstm::GradientReducer* reducer);

}  // namespace melodl::pipeline
