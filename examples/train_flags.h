// examples/train_flags.h: `melodl train`'s regularisation, learning-rate schedule and
// early-stopping flags (docs/training.md "Regularisation, schedule and early stopping"):
// --dropout, --variational-dropout, --recurrent-dropout, --weight-decay, --average, --lr-schedule,
// --warmup, --decay-steps, --min-lr, --lr-factor, --lr-patience (lstm::TrainConfig) and
// --patience (pipeline::TrainSettings). Each is checked against its range when parsed (shown
// in --help) and against the others when applied; errors name the flag. Also compose's and
// eval's --checkpoint best|latest, train's --style NAME=PATH and compose's / eval's --style NAME
// (docs/training.md "Style conditioning").
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/run_config.h"
#include "pipeline/training.h"

namespace melodl::cli {

// The defaults are those of a melody run without --preset, chosen by the 15-minute sweep on
// the shared Bach corpus (docs/results.md "Fifteen-minute runs"); apply_training_flags says
// which runs keep them off.
struct TrainingFlags {
  float dropout = 0.5f;
  bool variational = false;
  float recurrent_dropout = 0.25f;  // the CPU backend only: 0 on CUDA (not implemented there)
  float weight_decay = 0.01f;
  float average = 0.0f;  // weight averaging (the CPU backend only)
  std::string lr_schedule = "plateau";
  std::int64_t warmup = 0;
  std::int64_t decay_steps = 0;
  float min_lr = 0.0f;  // 0: --lr / 100 for cosine and plateau
  float lr_factor = 0.5f;
  int lr_patience = 2;
  int patience = 10;
  std::vector<std::string> styles;  // --style NAME=PATH (style conditioning)
};

// --time-budget: a duration > 0 ("10m", flags.h parse_duration); UsageError otherwise.
double time_budget(const std::string& text);

// Registers the flags on `sub` (`melodl train`).
void add_training_flags(CLI::App& sub, TrainingFlags& flags);

// A new run: the flags into c.settings (after any --preset: --min-lr's default follows the
// rate in c.settings.train.optimizer.lr). Flags not given take TrainingFlags' defaults, except
// that a --preset (the original's networks; --harmonies implies one) keeps dropout, weight
// decay, the schedule and early stopping off as the original trained, a run on the CUDA
// backend (--device cuda, or auto finding a GPU) has no recurrent dropout, and a run without
// validation data (--valid-fraction 0) has no plateau schedule and no early stopping (both
// need validations); c.default_plateau / c.default_patience say when those two are defaults.
// Throws UsageError naming the flag for a combination that cannot work (e.g. --lr-factor
// without --lr-schedule plateau, --min-lr above --lr, --recurrent-dropout on CUDA).
void apply_training_flags(const CLI::App& sub, const TrainingFlags& flags, pipeline::RunConfig& c);

// --resume: --patience may change (a stopping rule, like --epochs); the others are fixed
// when a run starts (its checkpoints hold them): UsageError when one is given.
void apply_resume_training_flags(const CLI::App& sub, const TrainingFlags& flags,
                                 pipeline::TrainSettings& s);

// train's --style NAME=PATH into c.styles (a new run). UsageError for a malformed value or
// name, or --style beside unstyled inputs or --valid.
void apply_style_flags(const TrainingFlags& flags, pipeline::RunConfig& c);

// `--style NAME` of compose and eval: the style of a styled model to compose / score in.
void add_style_choice(CLI::App& sub, std::string& style);

// `--checkpoint best|latest` of the commands that load a model (compose, eval): which
// checkpoint of a run directory (pipeline::CheckpointChoice); a file is taken as it is.
void add_checkpoint_choice(CLI::App& sub, std::string& which);
pipeline::CheckpointChoice checkpoint_choice(const std::string& which);

// The model a command loads (compose, eval, export): the positional `checkpoint` (a checkpoint
// file or run directory) or `--model NAME`, a shipped pretrained model (pipeline/models.h).
// model_location gives its path; UsageError for both or neither, an unknown name, or a
// positional path that does not exist (naming the shipped model of that name, if any).
void add_model_source(CLI::App& sub, std::string& checkpoint, std::string& model);

// train's `--init-from NAME|RUN|FILE` (fine-tuning, docs/training.md), and the checkpoint file
// it names: a checkpoint file or run directory (its best checkpoint), else a shipped model's
// name. UsageError for --layers / --hidden beside it (the model's network is trained) or a
// value that is neither.
void add_init_from_flag(CLI::App& sub, std::string& init_from);
std::string init_from_checkpoint(const CLI::App& sub, const std::string& init_from);
std::filesystem::path model_location(const std::string& checkpoint, const std::string& model);

}  // namespace melodl::cli
