// lstm/memory.h: how much host memory training or sampling a network will need, estimated
// from its shape before anything is allocated, and a check of that estimate against the
// memory this process may still use. Lets a program refuse `--hidden 8000` in a millisecond
// with the numbers, instead of failing with "out of memory" after a minute and gigabytes.
//
// The estimate counts what the CPU backend allocates (the CUDA backend keeps host mirrors
// of the same buffers): parameters, gradients and optimizer state; per TBPTT segment the
// gate activations, cell and hidden states and their gradients of every layer, and the
// softmax output. It leaves out the training data and small per-thread scratch.
//
// Example:
//   const auto need = melodl::lstm::estimate_training_memory(net, train, /*batch=*/32);
//   melodl::lstm::check_memory(need, "training");  // throws InvalidArgument when too large
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lstm/network.h"
#include "lstm/trainer.h"

namespace melodl::lstm {

struct MemoryEstimate {
  std::uint64_t parameters = 0;   // weights (bytes)
  std::uint64_t training = 0;     // gradients and optimizer state (bytes; 0 for sampling)
  std::uint64_t activations = 0;  // per-segment (training) or per-step (sampling) buffers
  std::uint64_t total() const { return parameters + training + activations; }
};

// Training with `batch` sequences per step and config's TBPTT segment length. A segment
// length of 0 (whole sequences) needs `sequence_length`, the longest sequence in steps.
MemoryEstimate estimate_training_memory(const NetworkConfig& net, const TrainConfig& train,
                                        int batch, std::int64_t sequence_length = 0);

// Sampling `streams` sequences in parallel, one step at a time.
MemoryEstimate estimate_sampling_memory(const NetworkConfig& net, int streams);

// The bytes this process may still allocate: the system's MemAvailable (/proc/meminfo),
// lowered to the cgroup's memory limit less its usage where one is set. nullopt when
// neither can be read (then check_memory checks nothing).
std::optional<std::uint64_t> available_memory_bytes();

// Throws InvalidArgument "[check_memory] <what> needs about X GiB (...) but only Y GiB ..."
// when the estimate exceeds the available memory (or `limit_bytes` when given).
void check_memory(const MemoryEstimate& need, const std::string& what,
                  std::optional<std::uint64_t> limit_bytes = std::nullopt);

// "1.5 GiB", "300 MiB", "12 KiB": for messages.
std::string format_bytes(std::uint64_t bytes);

}  // namespace melodl::lstm
