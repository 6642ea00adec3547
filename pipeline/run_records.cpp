// pipeline/run_records.cpp: the records of a training run (pipeline/training.h): the JSON
// forms of EpochMetrics and RunState, and TrainSettings::validate.
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "pipeline/training.h"

namespace melodl::pipeline {

// The JSON forms of the run's records (the manifest, metrics.jsonl, the checkpoint's
// "run_state"): one object per struct, every field required when read. nlohmann's json keeps
// keys sorted, so the text does not depend on the order below.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EpochMetrics, epoch, partial, train_bits_per_symbol,
                                   valid_bits_per_symbol, valid_bits_per_note, seconds, steps,
                                   symbols, lr)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ComposedSample, epoch, text)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunState, epoch, next_batch, epoch_loss_nats, epoch_count,
                                   symbols, elapsed_s, attempts, skipped_steps, reloads, lr,
                                   finished, best_epoch, best_bits_per_note, validations_since_best,
                                   stopped_early, history, samples)

std::string EpochMetrics::to_json() const { return nlohmann::json(*this).dump(); }

void TrainSettings::validate() const {
  auto bad = [](const std::string& what) { throw InvalidArgument(what); };
  if (batch < 1) bad("--batch must be >= 1");
  if (window < 2) bad("--window must be >= 2");
  if (epochs < 0) bad("--epochs must be >= 0");
  if (!(time_budget_s >= 0)) bad("--time-budget must be >= 0");
  if (epochs == 0 && time_budget_s <= 0) bad("give --epochs or --time-budget");
  if (!(checkpoint_every_s >= 0)) bad("--checkpoint-every must be >= 0");
  if (keep_checkpoints < 2) bad("--keep-checkpoints must be >= 2");
  if (max_bad_steps < 1) bad("max bad steps must be >= 1");
  if (patience < 0) bad("--patience must be >= 0");
  if (samples_per_epoch < 0) bad("--samples-per-epoch must be >= 0");
  if (sample_length < 4) bad("--sample-length must be >= 4");
  lstm::NetworkConfig net = network;
  if (net.vocab == 0) net.vocab = 2;  // set from the data later
  net.validate();
  execution.validate();
  train.validate();
}

std::string RunState::to_json() const { return nlohmann::json(*this).dump(); }

RunState RunState::from_json(const std::string& text) {
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    if (j.is_object())  // checkpoints from before the best checkpoint: none yet
      for (const char* key : {"best_epoch", "best_bits_per_note", "validations_since_best"})
        j.emplace(key, 0);
    if (j.is_object()) j.emplace("stopped_early", false);
    return j.get<RunState>();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(std::string("run state: ") + e.what());
  }
}

}  // namespace melodl::pipeline
