// lstm/checkpoint.cpp: Network/Trainer <-> CheckpointFile mapping (see checkpoint.h).
#include "lstm/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "lstm/checkpoint_file.h"
#include "lstm/optim.h"
#include "lstm/rng.h"

namespace melodl::lstm {

namespace {

constexpr const char* kFormatKey = "lstm.format_version";
constexpr const char* kFormatVersion = "1";

CheckpointFile network_file(const Network& net, const std::string& vocabulary,
                            const std::map<std::string, std::string>& extra,
                            DType weights = DType::f32) {
  CheckpointFile f;
  const auto params = net.params();
  for (const auto& t : net.layout().tensors) {
    f.tensors.push_back(make_tensor(t.name, params.subspan(t.offset, t.size()), t.shape, weights));
  }
  f.metadata.insert_or_assign(kFormatKey, std::string(kFormatVersion));
  f.metadata["lstm.network_config"] = net.config().to_json();
  f.metadata["lstm.vocabulary"] = vocabulary;
  for (const auto& [k, v] : extra) f.metadata["user." + k] = v;
  return f;
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const Network& network,
                     const std::string& vocabulary, const std::map<std::string, std::string>& extra,
                     const CancelCheck& cancel, DType weights) {
  write_checkpoint_file(path, network_file(network, vocabulary, extra, weights), cancel);
}

void save_checkpoint(const std::filesystem::path& path, const Trainer& trainer,
                     const std::string& vocabulary, const std::map<std::string, std::string>& extra,
                     const CancelCheck& cancel) {
  CheckpointFile f = network_file(trainer.network(), vocabulary, extra);
  const auto& opt = trainer.optimizer();
  const auto names = opt.slot_names();
  std::string slot_list;
  for (std::size_t s = 0; s < names.size(); ++s) {
    const std::span<const float> slot = opt.slots()[s];
    for (const auto& t : trainer.network().layout().tensors)
      f.tensors.push_back(make_tensor("optim." + names[s] + "." + t.name,
                                      slot.subspan(t.offset, t.size()), t.shape));
    if (s) slot_list += ',';
    slot_list += names[s];
  }
  const State& carried = trainer.carried_state();
  for (std::size_t l = 0; carried.batch > 0 && l < carried.h.size(); ++l) {
    const std::vector<std::int64_t> shape = {
        carried.batch, static_cast<std::int64_t>(carried.h[l].size()) / carried.batch};
    const std::string pre = "state.layer" + std::to_string(l) + ".";
    f.tensors.push_back(make_tensor(pre + "h", carried.h[l], shape));
    f.tensors.push_back(make_tensor(pre + "c", carried.c[l], shape));
  }
  // The optimiser's own config: its lr may have changed since the start (Optimizer::set_lr).
  TrainConfig config = trainer.config();
  config.optimizer = opt.config();
  // With a schedule the optimiser holds the scheduled rate; the config keeps the base rate.
  if (config.schedule.active()) config.optimizer.lr = trainer.base_learning_rate();
  if (config.schedule.kind == LrScheduleKind::plateau)
    f.metadata["lstm.schedule"] = trainer.schedule().state_json();
  f.metadata["lstm.train_config"] = config.to_json();
  f.metadata["lstm.optimizer_slots"] = slot_list;
  f.metadata["lstm.step"] = std::to_string(trainer.step_count());
  f.metadata["lstm.rng"] = trainer.rng().state();
  write_checkpoint_file(path, f, cancel);
}

LoadedCheckpoint load_checkpoint(const std::filesystem::path& path) {
  // The file layer has verified structure and checksums, and holds no more bytes than the
  // file. Everything below checks that the tensors the config calls for are present with
  // the right dtype and shape BEFORE allocating anything sized by the config, so a crafted
  // config (vocab = 10^6 in a 10 MB file) is refused at once; then the values are checked
  // (finite weights and optimizer state, step >= 0, a valid RNG state and training config).
  const CheckpointFile f = read_checkpoint_file(path);
  const std::string where = "[load_checkpoint] " + path.string() + ": ";
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = f.metadata.find(key);
    MELODL_CHECK(it != f.metadata.end(),
                 where + "not an LSTM checkpoint (metadata key \"" + key + "\" missing)");
    return it->second;
  };
  // Library errors from parsing and validating the metadata, prefixed with the file.
  auto named = [&](const char* field, auto&& fn) {
    try {
      return fn();
    } catch (const ::melodl::Error& e) {
      throw InvalidArgument(where + field + ": " + e.what());
    }
  };
  MELODL_CHECK(meta(kFormatKey) == kFormatVersion,
               where + "unsupported LSTM checkpoint version " + meta(kFormatKey) +
                   " (this build reads version " + kFormatVersion + ")");
  LoadedCheckpoint ck;
  ck.path = path;
  ck.network_config = named("lstm.network_config", [&] {
    NetworkConfig c = NetworkConfig::from_json(meta("lstm.network_config"));
    c.validate();
    return c;
  });
  ck.vocabulary = meta("lstm.vocabulary");
  for (const auto& [k, v] : f.metadata)
    if (k.rfind("user.", 0) == 0) ck.extra[k.substr(5)] = v;
  const ParamLayout layout = ParamLayout::for_config(ck.network_config);

  std::map<std::string_view, const NamedTensor*> by_name;
  for (const auto& t : f.tensors) by_name.emplace(t.name, &t);
  auto require = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    const auto it = by_name.find(name);
    MELODL_CHECK(it != by_name.end(), where + "tensor \"" + name + "\" missing");
    const NamedTensor& t = *it->second;
    MELODL_CHECK(t.dtype == DType::f32 || t.dtype == DType::f16 || t.dtype == DType::bf16,
                 where + "tensor \"" + name + "\" is " + std::string(dtype_name(t.dtype)) +
                     ", not F32, F16 or BF16");
    MELODL_CHECK(t.shape == shape, where + "tensor \"" + name +
                                       "\" has a shape that does not match the config (vocab " +
                                       std::to_string(ck.network_config.vocab) + ", hidden " +
                                       std::to_string(ck.network_config.hidden) + ")");
    return &t;
  };
  auto read_into = [&](const std::string& name, const ParamTensor& t, std::vector<float>& dst) {
    const NamedTensor* nt = require(name, t.shape);
    const std::vector<float> v = as_floats(*nt);
    const auto bad = std::find_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); });
    MELODL_CHECK(bad == v.end(), where + "tensor \"" + name + "\" holds a non-finite value (" +
                                     std::to_string(*bad) + ") at element " +
                                     std::to_string(bad - v.begin()));
    std::copy(v.begin(), v.end(), dst.begin() + static_cast<std::ptrdiff_t>(t.offset));
  };
  for (const auto& t : layout.tensors) require(t.name, t.shape);

  const bool trained = f.metadata.count("lstm.train_config") > 0;
  std::vector<std::string> slots;
  if (trained) {
    ck.train_config = named("lstm.train_config", [&] {
      TrainConfig c = TrainConfig::from_json(meta("lstm.train_config"));
      c.validate();
      return c;
    });
    const std::string& step_text = meta("lstm.step");
    const auto [end, ec] =
        std::from_chars(step_text.data(), step_text.data() + step_text.size(), ck.step);
    MELODL_CHECK(
        ec == std::errc() && end == step_text.data() + step_text.size() && ck.step >= 0,
        where + "lstm.step must be a whole number >= 0, got \"" + step_text.substr(0, 40) + "\"");
    ck.rng_state = meta("lstm.rng");
    named("lstm.rng", [&] {
      Rng probe(0);
      probe.set_state(ck.rng_state);
      return 0;
    });
    // The plateau state (absent before issue 15 and for other schedules: a fresh state).
    if (const auto it = f.metadata.find("lstm.schedule"); it != f.metadata.end()) {
      ck.schedule_state = it->second;
      named("lstm.schedule", [&] {
        LrSchedule probe;
        probe.set_state_json(ck.schedule_state);
        return 0;
      });
    }
    const std::string& list = meta("lstm.optimizer_slots");
    for (std::size_t a = 0; a <= list.size() && !list.empty();) {
      std::size_t b = list.find(',', a);
      if (b == std::string::npos) b = list.size();
      slots.push_back(list.substr(a, b - a));
      a = b + 1;
    }
    // The slots the optimizer kind keeps, in its order: nothing else is read (a crafted list
    // naming one slot a thousand times must not allocate a thousand copies of the weights).
    const auto expected = Optimizer(ck.train_config->optimizer, 0).slot_names();
    std::string want;
    for (const auto& n : expected) want += (want.empty() ? "" : ",") + n;
    MELODL_CHECK(slots == expected,
                 where + "lstm.optimizer_slots is \"" + list.substr(0, 40) + "\" but optimizer " +
                     to_string(ck.train_config->optimizer.kind) + " keeps \"" + want + "\"");
    for (const auto& s : slots)
      for (const auto& t : layout.tensors) require("optim." + s + "." + t.name, t.shape);
  }
  const NetworkConfig& nc = ck.network_config;
  const bool has_state = trained && by_name.count("state.layer0.h") > 0;
  int state_batch = 0;
  if (has_state) {
    const NamedTensor& h0 = *by_name.at("state.layer0.h");
    MELODL_CHECK(
        h0.shape.size() == 2 && h0.shape[0] >= 1 && h0.shape[1] == nc.hidden,
        where + "tensor \"state.layer0.h\" must be [B,H] with H=" + std::to_string(nc.hidden));
    state_batch = static_cast<int>(std::min<std::int64_t>(h0.shape[0], INT32_MAX));
    for (int l = 0; l < nc.layers; ++l)
      for (const char* which : {"h", "c"})
        require("state.layer" + std::to_string(l) + "." + which, {h0.shape[0], nc.hidden});
  }

  // Every tensor is present and of its size: allocations below are bounded by the file.
  ck.params.assign(layout.total, 0.0f);
  for (const auto& t : layout.tensors) read_into(t.name, t, ck.params);
  for (const auto& s : slots) {
    ck.optimizer_slots.emplace_back(layout.total, 0.0f);
    for (const auto& t : layout.tensors)
      read_into("optim." + s + "." + t.name, t, ck.optimizer_slots.back());
  }
  if (has_state) {
    ck.carried_state = State::zeros(nc, state_batch);
    for (int l = 0; l < nc.layers; ++l) {
      for (const char* which : {"h", "c"}) {
        const std::string name = "state.layer" + std::to_string(l) + "." + which;
        const std::vector<float> v = as_floats(*by_name.at(name));
        auto& dst = which[0] == 'h' ? ck.carried_state.h[l] : ck.carried_state.c[l];
        std::copy(v.begin(), v.end(), dst.begin());
      }
    }
  }
  return ck;
}

void LoadedCheckpoint::expect_compatible(const NetworkConfig& e, const std::string& vocab) const {
  const NetworkConfig& c = network_config;
  const std::string where = "[checkpoint] " + path.string() + ": ";
  auto field = [&](const char* name, auto got, auto want) {
    MELODL_CHECK(got == want, where + name + " is " + std::to_string(got) +
                                  " in the checkpoint but " + std::to_string(want) +
                                  " was expected");
  };
  field("vocab", c.vocab, e.vocab);
  field("layers", c.layers, e.layers);
  field("hidden", c.hidden, e.hidden);
  field("peepholes", static_cast<int>(c.peepholes), static_cast<int>(e.peepholes));
  MELODL_CHECK(vocabulary == vocab, where + "vocabulary differs (checkpoint has " +
                                        std::to_string(vocabulary.size()) + " bytes \"" +
                                        vocabulary.substr(0, 40) + "\", expected \"" +
                                        vocab.substr(0, 40) + "\")");
}

Network LoadedCheckpoint::make_network(const ExecutionOptions& execution) const {
  return Network(network_config, params, execution);
}

Trainer LoadedCheckpoint::make_trainer(const ExecutionOptions& execution) const {
  MELODL_CHECK(train_config.has_value(),
               "[checkpoint] " + path.string() +
                   ": holds network weights only (no optimiser state); cannot resume training");
  Trainer t(make_network(execution), *train_config);
  auto& slots = t.optimizer().slots();
  MELODL_CHECK(slots.size() == optimizer_slots.size(),
               "[checkpoint] " + path.string() + ": optimiser state has " +
                   std::to_string(optimizer_slots.size()) + " slots, the optimiser needs " +
                   std::to_string(slots.size()));
  slots = optimizer_slots;
  t.optimizer().set_steps(step);
  t.rng().set_state(rng_state);
  if (!schedule_state.empty()) t.schedule().set_state_json(schedule_state);
  if (carried_state.batch > 0) t.set_carried_state(carried_state);
  return t;
}

}  // namespace melodl::lstm
