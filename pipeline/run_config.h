// pipeline/run_config.h: what a `melodl train` run directory's config.json holds: the data
// (inputs, validation), the training settings and the sample options, so `--resume RUN_DIR`
// continues the run as it was started. JSON (nlohmann) with the keys config.json has always
// had: the settings' fields at the top level, the model's shape and the execution options
// together in "network", the optimiser and TBPTT in "train". Tests:
// tests/pipeline/run_config_test.cpp.
//
// Example:
//   melodl::pipeline::RunConfig c = melodl::pipeline::read_run_config("runs/bach");
//   c.settings.epochs += 5;   // then TrainSession::resume("runs/bach", c, ...)
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/corpus.h"
#include "pipeline/training.h"

namespace melodl::pipeline {

// Style conditioning (`melodl train --style NAME=PATH`, docs/training.md "Style
// conditioning"): the lines of `path` (as an input) are tagged with style `name`.
struct StyleInput {
  std::string name;
  std::string path;
};

// The style names of the inputs, each once, in order of first appearance.
std::vector<std::string> style_names(const std::vector<StyleInput>& styles);

struct RunConfig {
  std::vector<std::string> inputs;  // melodies / harmonies files, MIDI files and folders
  std::string valid_file;           // validation lines; "" = split the inputs by source file
  double valid_fraction = 0.1;      // of the source files, without valid_file
  std::string preset;               // the `--preset` the settings came from ("" = none)
  TrainSettings settings;           // settings.seed is the run's seed (split, order, samples)
  bool wav = false;                 // render the samples to WAV too
  int program = 0;                  // General MIDI program of the samples (harmony: lower)
  int upper_program = 24;           // harmony samples: of the upper voice
  LineKind kind = LineKind::melody;
  bool strict_midi = false;  // MIDI inputs read strictly (`--strict`), else recovered
  // Styled inputs (instead of `inputs`); config.json has "styles" only when there are some.
  std::vector<StyleInput> styles;
  // A trained model's checkpoint file the run starts from (`--init-from`: fine-tuning; its
  // shape and vocabulary replace the run's own); "" = random weights. In config.json only
  // when set.
  std::string init_from;
  // Set by `melodl train` when the plateau schedule / early stopping (settings.patience) are
  // its defaults rather than asked for: when the split leaves no validation data (a single
  // source file), the run trains without them instead of being refused. Not in config.json,
  // which stores what ran.
  bool default_plateau = false;
  bool default_patience = false;
};

// Every input path of a run: its untagged inputs, then its styled ones.
std::vector<std::string> input_paths(const RunConfig& c);

// JSON of the settings as config.json holds them (max_bad_steps is not stored). Reading
// requires every key but "patience" (written only when > 0, absent = 0); lstm's
// NetworkConfig / ExecutionOptions / TrainConfig read theirs (their issue-15 options too:
// dropout, weight decay, schedule, each written only when on).
void to_json(nlohmann::json& j, const TrainSettings& s);
void from_json(const nlohmann::json& j, TrainSettings& s);
// config.json. Reading: "kind" and "upper_program" (absent in runs from before harmonies)
// default to melody and 24, "strict_midi" (absent in runs from before MIDI recovery, which
// read strictly) to true, "styles" (written only for a styled run) to none; every other key
// is required.
void to_json(nlohmann::json& j, const RunConfig& c);
void from_json(const nlohmann::json& j, RunConfig& c);

// Applies a named preset to the settings the user did not set (user_set("--layers") false):
// melodl4j (MELODL4J's melody network: 2 x 200, DL4J RMSProp 0.1, L2 0.001, TBPTT 50, batch 32,
// window 500), harmonies (3 x 100, Adam 0.002, L2 5e-6, TBPTT 300, batch 32, window 2000,
// samples of 2000 symbols) and melodl4j-harmonies (the same with Adam 0.05, as the original).
// Returns the preset applied: `preset`, or "harmonies" when it is empty and kind is harmony.
// Throws InvalidArgument naming --preset for an unknown preset or one of the other kind.
std::string apply_preset(std::string preset, LineKind kind, TrainSettings& settings,
                         const std::function<bool(const char* flag)>& user_set);

// The config with its input and validation paths absolute and normalised (how config.json
// stores them, so a run resumes from any working directory).
RunConfig with_absolute_paths(RunConfig config);

// run_dir/config.json; `stored` (optional) receives the JSON as stored. Throws IoError when
// it is missing ("is RUN_DIR a run directory?"), FormatError naming it when it is damaged.
RunConfig read_run_config(const std::filesystem::path& run_dir, nlohmann::json* stored = nullptr);

}  // namespace melodl::pipeline
