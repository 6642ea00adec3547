// lstm/checkpoint.h: maps a Network (and optionally a Trainer's optimiser state, step
// count and RNG) onto the generic checkpoint file (lstm/checkpoint_file.h).
// Tensor names: "layer<l>.W" [I,4H], "layer<l>.R" [H,4H], "layer<l>.b" [4H],
// "layer<l>.p" [3,H] (peepholes only), "out.W" [H,V], "out.b" [V]; optimiser slots as
// "optim.<slot>.<tensor name>" (slot: velocity | m | v | cache) and the trainer's carried
// state as "state.layer<l>.h" / "state.layer<l>.c" [B,H]. Metadata keys "lstm.*"
// (format version, network/train config JSON, vocabulary, step, RNG, schedule state) and
// "user.<key>" for the caller's own keys. Resuming a Trainer from a checkpoint continues bitwise
// identically on the CPU with the same thread count (docs/design.md "Checkpoints").
//
// Example:
//   save_checkpoint("run/ckpt.safetensors", trainer, vocabulary, {{"epoch", "3"}});
//   LoadedCheckpoint ck = load_checkpoint("run/ckpt.safetensors");
//   ck.expect_compatible(expected_config, vocabulary);   // clear error on a mismatch
//   Trainer resumed = ck.make_trainer(ExecutionOptions{.device = Device::automatic});
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/files.h"
#include "lstm/checkpoint_file.h"
#include "lstm/network.h"
#include "lstm/trainer.h"

namespace melodl::lstm {

struct LoadedCheckpoint {
  std::filesystem::path path;
  NetworkConfig network_config;  // the model only: execution options are make_*()'s argument
  std::vector<float> params;
  std::string vocabulary;                    // opaque to the library
  std::map<std::string, std::string> extra;  // the caller's keys (without "user.")
  // Present when saved from a Trainer:
  std::optional<TrainConfig> train_config;
  std::vector<std::vector<float>> optimizer_slots;
  std::int64_t step = 0;
  std::string rng_state;
  std::string schedule_state;  // LrSchedule::state_json() (plateau schedules; empty: fresh)
  State carried_state;         // Trainer::carried_state() (batch 0 when none was saved)

  // Throws InvalidArgument naming the file and the differing field when the checkpoint's
  // shape (vocab, layers, hidden, peepholes) or vocabulary differs from the expected one.
  void expect_compatible(const NetworkConfig& expected, const std::string& vocabulary) const;
  // The network (or trainer) on the device, thread count and CUDA options of `execution`,
  // whatever the run that wrote the checkpoint used (checkpoints hold the model only).
  Network make_network(const ExecutionOptions& execution = {}) const;
  // Needs training state (saved from a Trainer); throws InvalidArgument otherwise.
  Trainer make_trainer(const ExecutionOptions& execution = {}) const;
};

// Network weights only. `cancel` (optional): see write_checkpoint_file; a cancelled save
// throws WriteCancelled (base/files.h) and leaves an existing file at `path` as it was.
// `weights`: the stored type of the weights, f32 (exact), or f16 / bf16 (half the size,
// rounded to nearest; load_checkpoint widens them back to float). A weight beyond the
// type's range throws CheckpointError naming the tensor.
void save_checkpoint(const std::filesystem::path& path, const Network& network,
                     const std::string& vocabulary,
                     const std::map<std::string, std::string>& extra = {},
                     const CancelCheck& cancel = {}, DType weights = DType::f32);
// Weights plus optimiser state, step count, training config and the trainer's RNG.
void save_checkpoint(const std::filesystem::path& path, const Trainer& trainer,
                     const std::string& vocabulary,
                     const std::map<std::string, std::string>& extra = {},
                     const CancelCheck& cancel = {});
// Throws CheckpointError (file damaged/unreadable) or InvalidArgument (not an LSTM
// checkpoint, tensors missing or of the wrong shape).
LoadedCheckpoint load_checkpoint(const std::filesystem::path& path);

}  // namespace melodl::lstm
