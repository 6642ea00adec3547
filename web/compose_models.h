// web/compose_models.h: the models `melodl serve` composes with (docs/serve.md). Each
// argument is a checkpoint file, a `melodl train` run directory (its `best` checkpoint
// when the run keeps one, else its latest good one, as `melodl compose` picks) or a folder
// of those (one level deep). Every model is loaded once, its network made on the CPU and
// shared read-only by all requests (lstm::Network's CPU step is const and keeps no state
// of its own: each request samples with its own state and Rng). Its card (GET /api/models)
// comes from the checkpoint's metadata and the run's config.json.
//
// Example:
//   auto models = web::load_served_models({"runs/bach", "runs/"}, [](auto& s) { log(s); });
//   const web::ServedModel* m = web::find_model(models, "bach");
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lstm/network.h"
#include "pipeline/composing.h"

namespace melodl::web {

struct ModelCard {
  std::string name;        // unique among the served models: the run's folder or file stem
  std::string kind;        // "melody" or "harmony"
  std::string corpus;      // the run's inputs (file names), "" when unknown
  std::string checkpoint;  // the checkpoint file's name
  std::string trained;     // the checkpoint's date, UTC, "2026-12-07T05:58:27Z"
  int layers = 0, hidden = 0, vocab = 0;
  std::int64_t parameters = 0;
  int epochs = 0;                    // epochs finished, from the run state (0 = unknown)
  double valid_bits_per_note = 0.0;  // of the last validated epoch; 0 = unknown (JSON null)
  std::vector<std::string> styles;   // a style-conditioned model's styles (compose needs one)
};

struct ServedModel {
  ModelCard card;
  pipeline::LoadedModel model;
  lstm::Network net;  // on the CPU, shared read-only
};

using ServedModels = std::vector<std::unique_ptr<ServedModel>>;

// The checkpoint files and run directories that `args` name (folders expanded one level:
// sub-folders holding checkpoints/ or config.json, and *.safetensors files, sorted).
// Throws InvalidArgument naming an argument that does not exist or holds no model.
std::vector<std::filesystem::path> find_model_paths(const std::vector<std::string>& args);

// Loads every model of find_model_paths(args); `log` hears of checkpoints passed over.
// Throws Error naming the file when one cannot be loaded, InvalidArgument for no model.
ServedModels load_served_models(
    const std::vector<std::string>& args, const std::function<void(const std::string&)>& log = {},
    pipeline::CheckpointChoice choice = pipeline::CheckpointChoice::best);

// The card of a loaded model; `name` as given.
ModelCard make_card(const std::string& name, const std::filesystem::path& where,
                    const pipeline::LoadedModel& model);

// JSON of GET /api/models: {"models": [card, ...]}.
std::string models_json(const ServedModels& models);

// The model named `name`, or nullptr.
const ServedModel* find_model(const ServedModels& models, const std::string& name);

}  // namespace melodl::web
