// pipeline/models.h: the pretrained models shipped with melodl (the repository's models/
// folder, installed to share/melodl/models), found by name: `melodl compose --model bach`.
// A shipped model is NAME.safetensors (a weights-only checkpoint, usually in F16) beside
// NAME.json, its machine-readable card (docs/models.md): description, kind, styles, the
// held-out data and the bits/note the model scores on it, the command that trained it.
// NAME.md is the card for people. Search path, first match wins: every folder of the
// environment variable MELODL_MODELS (':'-separated), then share/melodl/models beside the
// running program's bin/ folder (an installed melodl), then the source tree's models/ (a
// build tree). Tests: tests/pipeline/models_test.cpp.
//
// Example:
//   std::filesystem::path p = melodl::pipeline::find_model("bach");   // throws when unknown
//   for (const auto& m : melodl::pipeline::list_models()) std::puts(m.name.c_str());
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace melodl::pipeline {

struct ShippedModel {
  std::string name;                    // the file name without .safetensors
  std::filesystem::path file;          // NAME.safetensors
  std::filesystem::path card;          // NAME.json ("" when the folder has none)
  std::string description;             // from the card ("" without one)
  double heldout_bits_per_note = 0.0;  // the card's first held-out score (0: none given)
};

// The folders searched, in order (those that do not exist included).
std::vector<std::filesystem::path> model_search_path();

// Every model of the search path, by name (a name found twice: the first folder's).
std::vector<ShippedModel> list_models();

// The model called `name` (a-z 0-9 - _), or nullopt.
std::optional<ShippedModel> lookup_model(const std::string& name);

// Its checkpoint file; throws InvalidArgument naming the models that exist and where they
// were looked for when there is none called `name`.
std::filesystem::path find_model(const std::string& name);

// "bach, folk, ..." or "none" (for messages).
std::string model_names();

}  // namespace melodl::pipeline
