// pipeline/run_config.cpp: see run_config.h.
#include "pipeline/run_config.h"

#include <algorithm>

#include "base/error.h"
#include "base/files.h"

namespace melodl::pipeline {

namespace fs = std::filesystem;

NLOHMANN_JSON_SERIALIZE_ENUM(LineKind,
                             {{LineKind::melody, "melody"}, {LineKind::harmony, "harmony"}})

// A styled input in config.json: {"name": ..., "path": ...}.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StyleInput, name, path)

std::vector<std::string> style_names(const std::vector<StyleInput>& styles) {
  std::vector<std::string> names;
  for (const auto& s : styles)
    if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
  return names;
}

std::vector<std::string> input_paths(const RunConfig& c) {
  std::vector<std::string> paths = c.inputs;
  for (const auto& s : c.styles) paths.push_back(s.path);
  return paths;
}

// The flat fields of each struct, through nlohmann's macro; defined outside melodl::pipeline
// so that they are not the structs' own (ADL) serialisers, which add the nested parts.
namespace flat_fields {
using melodl::pipeline::RunConfig;
using melodl::pipeline::TrainSettings;
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TrainSettings, batch, window, epochs, time_budget_s,
                                   checkpoint_every_s, keep_checkpoints, samples_per_epoch,
                                   sample_length, sample_temperature, seed)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunConfig, inputs, valid_file, valid_fraction, preset, wav,
                                   program, upper_program, kind, strict_midi)
}  // namespace flat_fields

void to_json(nlohmann::json& j, const TrainSettings& s) {
  flat_fields::to_json(j, s);
  if (s.patience > 0) j["patience"] = s.patience;  // written only when on, as lstm's options
  // One "network" object: the model's shape and the execution options side by side.
  j["network"] = nlohmann::json::parse(s.network.to_json());
  j["network"].update(nlohmann::json::parse(s.execution.to_json()));
  j["train"] = nlohmann::json::parse(s.train.to_json());
}

void from_json(const nlohmann::json& j, TrainSettings& s) {
  s.network = lstm::NetworkConfig::from_json(j.at("network").dump());
  s.execution = lstm::ExecutionOptions::from_json(j.at("network").dump());
  s.train = lstm::TrainConfig::from_json(j.at("train").dump());
  flat_fields::from_json(j, s);
  s.patience = j.value("patience", 0);
}

void to_json(nlohmann::json& j, const RunConfig& c) {
  to_json(j, c.settings);
  flat_fields::to_json(j, c);
  if (!c.styles.empty()) j["styles"] = c.styles;  // written only for a styled run
  if (!c.init_from.empty()) j["init_from"] = c.init_from;
}

void from_json(const nlohmann::json& j, RunConfig& c) {
  from_json(j, c.settings);
  nlohmann::json with_defaults = j;  // emplace keeps the keys that are there
  with_defaults.emplace("kind", LineKind::melody);
  with_defaults.emplace("upper_program", RunConfig{}.upper_program);
  with_defaults.emplace("strict_midi", true);
  flat_fields::from_json(with_defaults, c);
  c.styles = j.value("styles", std::vector<StyleInput>{});
  c.init_from = j.value("init_from", std::string());
}

std::string apply_preset(std::string preset, LineKind kind, TrainSettings& s,
                         const std::function<bool(const char* flag)>& user_set) {
  const bool harmonies = kind == LineKind::harmony;
  if (preset.empty() && harmonies) preset = "harmonies";
  if (preset.empty()) return preset;
  auto& opt = s.train.optimizer;
  const auto set = [&](const char* flag, auto& field, auto value) {
    if (!user_set(flag)) field = value;
  };
  const auto set_tbptt = [&](int steps) {
    if (!user_set("--tbptt")) s.train.tbptt_fwd = s.train.tbptt_bwd = steps;
  };
  if (preset == "harmonies" || preset == "melodl4j-harmonies") {
    if (!harmonies)
      throw InvalidArgument("--preset " + preset + " is for two-part harmonies: add --harmonies");
    // GravesLSTMForTwoPartHarmonies (54adb04b): 3 x 100 GravesLSTM, Adam, L2 0.0015,
    // minibatch 32, windows of 2000 symbols, TBPTT 300/300, lr 0.05. DL4J adds its L2 to
    // the gradient of the loss summed over a segment's 300 steps (divided by the
    // minibatch only); ours is the per-symbol mean, 300 x smaller, and Adam does not see
    // the scale: the same balance is L2 0.0015 / 300 = 5e-6 here (docs/training.md).
    // Our "harmonies" preset also lowers the learning rate to 0.002.
    set("--layers", s.network.layers, 3);
    set("--hidden", s.network.hidden, 100);
    set("--optimizer", opt.kind, lstm::OptimizerKind::adam);
    set("--lr", opt.lr, preset == "harmonies" ? 2e-3f : 0.05f);
    set("--l2", opt.l2, 0.0015f / 300.0f);
    set_tbptt(300);
    set("--batch", s.batch, 32);
    set("--window", s.window, 2000);
    set("--sample-length", s.sample_length, 2000);
    return preset;
  }
  if (preset != "melodl4j")
    throw InvalidArgument("--preset: unknown preset '" + preset +
                          "' (melodl4j, harmonies, melodl4j-harmonies)");
  if (harmonies)
    throw InvalidArgument(
        "--preset melodl4j is the melody network; with --harmonies use --preset "
        "harmonies or melodl4j-harmonies");
  // MELODL4J MelodyModelingExample v1: 2 x 200 GravesLSTM, RMSProp 0.1 in DL4J's order,
  // L2 0.001, TBPTT 50/50, minibatch 32, windows of 500 symbols.
  set("--layers", s.network.layers, 2);
  set("--hidden", s.network.hidden, 200);
  set("--optimizer", opt.kind, lstm::OptimizerKind::dl4j_rmsprop);
  set("--lr", opt.lr, 0.1f);
  set("--l2", opt.l2, 0.001f);
  set_tbptt(50);
  set("--batch", s.batch, 32);
  set("--window", s.window, 500);
  return preset;
}

RunConfig with_absolute_paths(RunConfig config) {
  for (auto& i : config.inputs) i = fs::absolute(i).lexically_normal().string();
  for (auto& i : config.styles) i.path = fs::absolute(i.path).lexically_normal().string();
  if (!config.valid_file.empty())
    config.valid_file = fs::absolute(config.valid_file).lexically_normal().string();
  if (!config.init_from.empty())
    config.init_from = fs::absolute(config.init_from).lexically_normal().string();
  return config;
}

RunConfig read_run_config(const fs::path& run_dir, nlohmann::json* stored) {
  const fs::path cfg = run_dir / "config.json";
  std::error_code ec;
  if (!fs::exists(cfg, ec))
    throw IoError(cfg.string() + ": not found (is " + run_dir.string() + " a run directory?)");
  try {
    nlohmann::json j = nlohmann::json::parse(read_text_file(cfg));
    RunConfig c = j.get<RunConfig>();
    if (stored) *stored = std::move(j);
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(cfg.string() + ": damaged run configuration: " + e.what());
  }
}

}  // namespace melodl::pipeline
