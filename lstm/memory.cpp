// lstm/memory.cpp: see memory.h. The per-element counts follow the CPU backend's workspaces
// (lstm/cpu/trainer_backend.cpp): per layer and per (step, sequence) 4H gate activations, H
// cell states, H hidden states, H tanh(c), and for the backward pass 4H gate gradients and H
// hidden-state gradients; V softmax outputs per (step, sequence).
#include "lstm/memory.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "lstm/error.h"

namespace melodl::lstm {
namespace {

constexpr std::uint64_t kFloat = sizeof(float);

// Saturating arithmetic: a crafted shape must give a huge estimate, not a wrapped small one.
std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
  return a * b;
}
std::uint64_t add(std::uint64_t a, std::uint64_t b) {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

// Parameter count from the shape alone (ParamLayout::for_config's sums, without building
// the layout, so that absurd shapes cannot overflow it).
std::uint64_t parameter_count(const NetworkConfig& net) {
  const std::uint64_t V = static_cast<std::uint64_t>(std::max(net.vocab, 0));
  const std::uint64_t H = static_cast<std::uint64_t>(std::max(net.hidden, 0));
  const std::uint64_t L = static_cast<std::uint64_t>(std::max(net.layers, 0));
  std::uint64_t total = 0;
  for (std::uint64_t l = 0; l < L; ++l) {
    const std::uint64_t in = l == 0 ? V : H;
    // W [in,4H], R [H,4H], b [4H], peepholes 3H
    const std::uint64_t layer =
        add(add(mul(in, 4 * H), mul(H, 4 * H)), add(4 * H, net.peepholes ? 3 * H : 0));
    total = add(total, layer);
    if (total == UINT64_MAX) break;
  }
  return add(total, add(mul(H, V), V));  // output layer
}

std::uint64_t optimizer_slots(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::adam:
      return 2;
    case OptimizerKind::sgd:
    case OptimizerKind::rmsprop:
    case OptimizerKind::dl4j_rmsprop:
      return 1;
  }
  return 2;
}

std::optional<std::uint64_t> read_number_file(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

MemoryEstimate estimate_training_memory(const NetworkConfig& net, const TrainConfig& train,
                                        int batch, std::int64_t sequence_length) {
  MemoryEstimate e;
  const std::uint64_t P = parameter_count(net);
  e.parameters = mul(P, kFloat);
  e.training = mul(mul(P, 1 + optimizer_slots(train.optimizer.kind)), kFloat);
  const std::uint64_t T = static_cast<std::uint64_t>(
      std::max<std::int64_t>(train.tbptt_fwd > 0 ? train.tbptt_fwd : sequence_length, 1));
  const std::uint64_t B = static_cast<std::uint64_t>(std::max(batch, 1));
  const std::uint64_t H = static_cast<std::uint64_t>(std::max(net.hidden, 0));
  const std::uint64_t V = static_cast<std::uint64_t>(std::max(net.vocab, 0));
  const std::uint64_t L = static_cast<std::uint64_t>(std::max(net.layers, 0));
  const std::uint64_t per_step = add(mul(L, 13 * H), V);  // 4H+H+H+H+4H+H (+H slack) per layer
  e.activations = mul(mul(mul(T, B), per_step), kFloat);
  return e;
}

MemoryEstimate estimate_sampling_memory(const NetworkConfig& net, int streams) {
  MemoryEstimate e;
  e.parameters = mul(parameter_count(net), kFloat);
  const std::uint64_t S = static_cast<std::uint64_t>(std::max(streams, 1));
  const std::uint64_t H = static_cast<std::uint64_t>(std::max(net.hidden, 0));
  const std::uint64_t V = static_cast<std::uint64_t>(std::max(net.vocab, 0));
  const std::uint64_t L = static_cast<std::uint64_t>(std::max(net.layers, 0));
  e.activations = mul(mul(S, add(mul(L, 8 * H), 2 * V)), kFloat);
  return e;
}

std::optional<std::uint64_t> available_memory_bytes() {
  std::optional<std::uint64_t> avail;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") {
      avail = kib * 1024;
      break;
    }
  }
  // cgroup v2, then v1: the limit less what the group already uses.
  auto limit = read_number_file("/sys/fs/cgroup/memory.max");
  auto usage = read_number_file("/sys/fs/cgroup/memory.current");
  if (!limit) {
    limit = read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    usage = read_number_file("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    if (limit && *limit >= (std::uint64_t{1} << 60)) limit.reset();  // v1's "no limit"
  }
  if (limit) {
    const std::uint64_t room = usage && *usage < *limit ? *limit - *usage : (usage ? 0 : *limit);
    avail = avail ? std::min(*avail, room) : room;
  }
  return avail;
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  char buf[48];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

void check_memory(const MemoryEstimate& need, const std::string& what,
                  std::optional<std::uint64_t> limit_bytes) {
  const std::optional<std::uint64_t> avail = limit_bytes ? limit_bytes : available_memory_bytes();
  if (!avail || need.total() <= *avail) return;
  std::ostringstream msg;
  msg << "[check_memory] " << what << " needs about " << format_bytes(need.total())
      << " of memory (parameters " << format_bytes(need.parameters);
  if (need.training) msg << ", gradients and optimizer state " << format_bytes(need.training);
  msg << ", activations " << format_bytes(need.activations) << ") but only " << format_bytes(*avail)
      << " is available (a smaller network, batch or TBPTT segment needs less)";
  throw InvalidArgument(msg.str());
}

}  // namespace melodl::lstm
