// lstm/checkpoint.cpp: Network/Trainer <-> CheckpointFile mapping (see checkpoint.h).
#include "lstm/checkpoint.h"

#include <algorithm>

#include "lstm/checkpoint_file.h"

namespace melodl::lstm {

namespace {

constexpr const char* kFormatKey = "lstm.format_version";
constexpr const char* kFormatVersion = "1";

CheckpointFile network_file(const Network& net, const std::string& vocabulary,
                            const std::map<std::string, std::string>& extra) {
  CheckpointFile f;
  const auto params = net.params();
  for (const auto& t : net.layout().tensors)
    f.tensors.push_back(make_tensor(t.name, params.subspan(t.offset, t.size()), t.shape));
  f.metadata.insert_or_assign(kFormatKey, std::string(kFormatVersion));
  f.metadata["lstm.network_config"] = net.config().to_json();
  f.metadata["lstm.vocabulary"] = vocabulary;
  for (const auto& [k, v] : extra) f.metadata["user." + k] = v;
  return f;
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const Network& network,
                     const std::string& vocabulary,
                     const std::map<std::string, std::string>& extra) {
  write_checkpoint_file(path, network_file(network, vocabulary, extra));
}

void save_checkpoint(const std::filesystem::path& path, const Trainer& trainer,
                     const std::string& vocabulary,
                     const std::map<std::string, std::string>& extra) {
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
  f.metadata["lstm.train_config"] = config.to_json();
  f.metadata["lstm.optimizer_slots"] = slot_list;
  f.metadata["lstm.step"] = std::to_string(trainer.step_count());
  f.metadata["lstm.rng"] = trainer.rng().state();
  write_checkpoint_file(path, f);
}

LoadedCheckpoint load_checkpoint(const std::filesystem::path& path) {
  const CheckpointFile f = read_checkpoint_file(path);
  const std::string where = "[load_checkpoint] " + path.string() + ": ";
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = f.metadata.find(key);
    MELODL_CHECK(it != f.metadata.end(),
                 where + "not an LSTM checkpoint (metadata key \"" + key + "\" missing)");
    return it->second;
  };
  MELODL_CHECK(meta(kFormatKey) == kFormatVersion,
               where + "unsupported LSTM checkpoint version " + meta(kFormatKey) +
                   " (this build reads version " + kFormatVersion + ")");
  LoadedCheckpoint ck;
  ck.path = path;
  ck.network_config = NetworkConfig::from_json(meta("lstm.network_config"));
  ck.network_config.validate();
  ck.vocabulary = meta("lstm.vocabulary");
  for (const auto& [k, v] : f.metadata)
    if (k.rfind("user.", 0) == 0) ck.extra[k.substr(5)] = v;
  const ParamLayout layout = ParamLayout::for_config(ck.network_config);
  auto read_into = [&](const std::string& name, const ParamTensor& t, std::vector<float>& dst) {
    const NamedTensor* nt = nullptr;
    try {
      nt = &find_tensor(f, name);
    } catch (const CheckpointError&) {
      throw InvalidArgument(where + "tensor \"" + name + "\" missing");
    }
    MELODL_CHECK(nt->shape == t.shape,
                 where + "tensor \"" + name + "\" has a shape that does not match the config");
    const std::vector<float> v = as_floats(*nt);
    std::copy(v.begin(), v.end(), dst.begin() + t.offset);
  };
  ck.params.assign(layout.total, 0.0f);
  for (const auto& t : layout.tensors) read_into(t.name, t, ck.params);
  if (f.metadata.count("lstm.train_config")) {
    ck.train_config = TrainConfig::from_json(meta("lstm.train_config"));
    ck.step = std::stoll(meta("lstm.step"));
    ck.rng_state = meta("lstm.rng");
    std::string list = meta("lstm.optimizer_slots");
    std::vector<std::string> slots;
    for (std::size_t a = 0; a < list.size();) {
      std::size_t b = list.find(',', a);
      if (b == std::string::npos) b = list.size();
      slots.push_back(list.substr(a, b - a));
      a = b + 1;
    }
    const NetworkConfig& nc = ck.network_config;
    const bool has_state = std::any_of(f.tensors.begin(), f.tensors.end(),
                                       [](const auto& t) { return t.name == "state.layer0.h"; });
    if (has_state) {
      const NamedTensor& h0 = find_tensor(f, "state.layer0.h");
      MELODL_CHECK(
          h0.shape.size() == 2 && h0.shape[0] >= 1 && h0.shape[1] == nc.hidden,
          where + "tensor \"state.layer0.h\" must be [B,H] with H=" + std::to_string(nc.hidden));
      ck.carried_state = State::zeros(nc, static_cast<int>(h0.shape[0]));
      for (int l = 0; l < nc.layers; ++l) {
        for (const char* which : {"h", "c"}) {
          const std::string name = "state.layer" + std::to_string(l) + "." + which;
          const std::vector<float> v = as_floats(find_tensor(f, name));
          auto& dst = which[0] == 'h' ? ck.carried_state.h[l] : ck.carried_state.c[l];
          MELODL_CHECK(v.size() == dst.size(),
                       where + "tensor \"" + name + "\" has the wrong size");
          std::copy(v.begin(), v.end(), dst.begin());
        }
      }
    }
    for (const auto& s : slots) {
      ck.optimizer_slots.emplace_back(layout.total, 0.0f);
      for (const auto& t : layout.tensors)
        read_into("optim." + s + "." + t.name, t, ck.optimizer_slots.back());
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
  if (carried_state.batch > 0) t.set_carried_state(carried_state);
  return t;
}

}  // namespace melodl::lstm
