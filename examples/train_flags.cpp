// examples/train_flags.cpp: see train_flags.h.
#include "examples/train_flags.h"

#include <cstdio>
#include <system_error>

#include "examples/cli_error.h"
#include "examples/flags.h"
#include "lstm/execution.h"
#include "pipeline/models.h"

namespace melodl::cli {

namespace {

// The flags fixed when a run starts (all but --patience); --style is fixed too, see below.
constexpr const char* kRunFlags[] = {"--dropout",
                                     "--variational-dropout",
                                     "--recurrent-dropout",
                                     "--weight-decay",
                                     "--average",
                                     "--lr-schedule",
                                     "--warmup",
                                     "--decay-steps",
                                     "--min-lr",
                                     "--lr-factor",
                                     "--lr-patience"};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

double time_budget(const std::string& text) {
  const double s = parse_duration(text, "--time-budget");
  if (!(s > 0))
    throw UsageError("--time-budget must be > 0 (leave it out for no limit), got '" + text + "'");
  return s;
}

void add_training_flags(CLI::App& sub, TrainingFlags& f) {
  add_in_range(sub, "--dropout", f.dropout,
               "Dropout on each LSTM layer's output as fed upwards (not the recurrence); 0 with "
               "--preset or --harmonies",
               0.0, 0.9);
  sub.add_flag("--variational-dropout", f.variational,
               "With --dropout: one mask per stream and TBPTT segment instead of per step");
  add_in_range(sub, "--recurrent-dropout", f.recurrent_dropout,
               "Dropout on h(t-1) in the recurrence, one mask per stream and segment (CPU "
               "backend only: 0 on CUDA, with --preset or --harmonies)",
               0.0, 0.9);
  add_in_range(sub, "--weight-decay", f.weight_decay,
               "Decoupled weight decay (AdamW): weights *= 1 - lr x this before each update; 0 "
               "with --preset or --harmonies",
               0.0, 1.0);
  add_in_range(sub, "--average", f.average,
               "Weight averaging: validation, samples and best.safetensors use an exponential "
               "moving average of the weights, decay this per update (e.g. 0.999; 0 = off; CPU "
               "backend only)",
               0.0, 0.9999);
  sub.add_option("--lr-schedule", f.lr_schedule,
                 "constant, cosine (down to --min-lr over --decay-steps updates) or plateau "
                 "(x --lr-factor after --lr-patience validations without improvement); constant "
                 "with --preset, --harmonies or no validation data")
      ->capture_default_str()
      ->check(CLI::IsMember({"constant", "cosine", "plateau"}));
  add_in_range(sub, "--warmup", f.warmup, "Updates of linear learning-rate warm-up",
               std::int64_t{0}, std::int64_t{1000000000});
  add_in_range(sub, "--decay-steps", f.decay_steps,
               "--lr-schedule cosine: updates from the end of the warm-up to --min-lr",
               std::int64_t{1}, std::int64_t{1000000000000})
      ->default_str("");
  add_in_range(sub, "--min-lr", f.min_lr,
               "--lr-schedule cosine/plateau: lowest rate, > 0 and <= --lr (default --lr/100)", 0.0,
               1.0)
      ->default_str("");
  add_in_range(sub, "--lr-factor", f.lr_factor,
               "--lr-schedule plateau: rate multiplier per reduction", 0.01, 0.99);
  add_in_range(sub, "--lr-patience", f.lr_patience,
               "--lr-schedule plateau: validations without improvement before a reduction", 1,
               1000);
  add_in_range(sub, "--patience", f.patience,
               "Stop after this many validations without a new best (0 = never); a run keeps "
               "best.safetensors (lowest validation bits/note) either way. 0 with --preset, "
               "--harmonies or no validation data",
               0, 1000000);
  sub.add_option("--style", f.styles,
                 "Style conditioning: NAME=PATH tags every melody of PATH (a melodies file, MIDI "
                 "file or folder) with style NAME (a-z 0-9 _ -). One --style per input, a NAME "
                 "may repeat; used instead of untagged inputs. Each style is split into "
                 "training and validation files on its own; the checkpoint lists the styles and "
                 "`melodl compose --style NAME` composes in one (docs/training.md)")
      ->type_name("NAME=PATH")
      ->allow_extra_args(false);
}

void apply_style_flags(const TrainingFlags& f, pipeline::RunConfig& c) {
  if (f.styles.empty()) return;
  if (!c.inputs.empty())
    throw UsageError("--style: every input of a styled run is NAME=PATH (got the untagged input " +
                     c.inputs.front() + ")");
  if (!c.valid_file.empty())
    throw UsageError("--valid: not with --style (each style is split by source file)");
  for (const std::string& v : f.styles) {
    auto [name, path] = name_and_path("--style", v);
    c.styles.push_back({std::move(name), std::move(path)});
  }
  try {
    (void)pipeline::Vocabulary().with_styles(pipeline::style_names(c.styles));
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(std::string("--style: ") + e.what());
  }
}

void add_style_choice(CLI::App& sub, std::string& style) {
  sub.add_option("--style", style,
                 "A style-conditioned model's style to use (one of its training --style names; "
                 "required for such a model)")
      ->type_name("NAME");
}

void apply_training_flags(const CLI::App& sub, const TrainingFlags& flags, pipeline::RunConfig& c) {
  const auto set = [&](const char* name) { return given(sub, name); };
  pipeline::TrainSettings& s = c.settings;
  const bool preset = !c.preset.empty();
  const bool validation = c.valid_fraction > 0 || !c.valid_file.empty();
  TrainingFlags f = flags;
  if (preset) {
    if (!set("--dropout")) f.dropout = 0.0f;
    if (!set("--recurrent-dropout")) f.recurrent_dropout = 0.0f;
    if (!set("--weight-decay")) f.weight_decay = 0.0f;
  }
  const bool cuda = s.execution.device == lstm::Device::cuda ||
                    (s.execution.device == lstm::Device::automatic &&
                     lstm::resolve_device(lstm::Device::automatic) == lstm::Device::cuda);
  if (cuda && !set("--recurrent-dropout"))
    f.recurrent_dropout = 0.0f;  // the CUDA backend has no recurrent dropout yet
  if (preset || !validation) {
    if (!set("--lr-schedule")) f.lr_schedule = "constant";
    if (!set("--patience")) f.patience = 0;
  }
  c.default_plateau = !set("--lr-schedule") && f.lr_schedule == "plateau";
  c.default_patience = !set("--patience") && f.patience > 0;
  lstm::TrainConfig& t = s.train;
  const float lr = t.optimizer.lr;
  t.dropout.output = f.dropout;
  t.dropout.variational = f.variational;
  t.dropout.recurrent = f.recurrent_dropout;
  t.optimizer.weight_decay = f.weight_decay;
  t.optimizer.average = f.average;
  t.schedule.kind = lstm::lr_schedule_kind_from_string(f.lr_schedule);
  t.schedule.warmup_steps = f.warmup;
  s.patience = f.patience;
  const bool cosine = t.schedule.kind == lstm::LrScheduleKind::cosine;
  const bool plateau = t.schedule.kind == lstm::LrScheduleKind::plateau;
  if (f.variational && !(f.dropout > 0))
    throw UsageError("--variational-dropout: needs --dropout P > 0 (it shapes its masks)");
  if (f.recurrent_dropout > 0 && cuda)
    throw UsageError("--recurrent-dropout: not supported by the CUDA backend yet (--device cpu)");
  if (f.average > 0 && cuda)
    throw UsageError("--average: not supported by the CUDA backend yet (--device cpu)");
  if (!(static_cast<double>(lr) * f.weight_decay < 1.0))
    throw UsageError("--weight-decay " + number(f.weight_decay) + ": --lr x --weight-decay (" +
                     number(lr) + " x " + number(f.weight_decay) + ") must be < 1");
  if (set("--decay-steps") && !cosine)
    throw UsageError("--decay-steps: only with --lr-schedule cosine");
  if (cosine && !set("--decay-steps"))
    throw UsageError(
        "--lr-schedule cosine needs --decay-steps N (updates from the end of the warm-up down "
        "to --min-lr)");
  if (set("--min-lr") && !cosine && !plateau)
    throw UsageError("--min-lr: only with --lr-schedule cosine or plateau");
  for (const char* name : {"--lr-factor", "--lr-patience"})
    if (set(name) && !plateau)
      throw UsageError(std::string(name) + ": only with --lr-schedule plateau");
  if (cosine) t.schedule.decay_steps = f.decay_steps;
  if (plateau) {
    t.schedule.factor = f.lr_factor;
    t.schedule.patience = f.lr_patience;
  }
  if (cosine || plateau) {
    t.schedule.min_lr = set("--min-lr") ? f.min_lr : lr / 100.0f;
    if (!(t.schedule.min_lr > 0) || t.schedule.min_lr > lr)
      throw UsageError("--min-lr " + number(t.schedule.min_lr) + ": must be > 0 and <= --lr (" +
                       number(lr) + ")");
  }
}

void apply_resume_training_flags(const CLI::App& sub, const TrainingFlags& f,
                                 pipeline::TrainSettings& s) {
  for (const char* name : kRunFlags)
    if (given(sub, name))
      throw UsageError(std::string(name) +
                       ": fixed when a run starts (its config.json and checkpoints hold it); "
                       "it cannot change on --resume");
  if (given(sub, "--style"))
    throw UsageError(
        "--style: a run's styles are fixed when it starts (its config.json and "
        "checkpoints hold them); they cannot change on --resume");
  if (given(sub, "--patience")) s.patience = f.patience;
}

void add_checkpoint_choice(CLI::App& sub, std::string& which) {
  sub.add_option("--checkpoint", which,
                 "With a run directory: best (its best.safetensors, lowest validation bits/note; "
                 "the latest when it has none) or latest (its latest good checkpoint)")
      ->capture_default_str()
      ->check(CLI::IsMember({"best", "latest"}));
}

pipeline::CheckpointChoice checkpoint_choice(const std::string& which) {
  return which == "latest" ? pipeline::CheckpointChoice::latest : pipeline::CheckpointChoice::best;
}

void add_model_source(CLI::App& sub, std::string& checkpoint, std::string& model) {
  sub.add_option("checkpoint", checkpoint,
                 "Checkpoint file or run directory (its best checkpoint, see --checkpoint)");
  sub.add_option("--model", model,
                 "A shipped pretrained model instead (bach, folk, composers, bach-duets: `melodl "
                 "models` lists them)");
}

void add_init_from_flag(CLI::App& sub, std::string& init_from) {
  sub.add_option("--init-from", init_from,
                 "Start from a trained model's weights (fine-tuning): a shipped model's name "
                 "(`melodl models`), a checkpoint file or a run directory (its best). Its shape "
                 "and vocabulary are used; the inputs must be of its kind and use only its "
                 "symbols (and its styles). A lower --lr (e.g. 5e-4) keeps more of it");
}

std::string init_from_checkpoint(const CLI::App& sub, const std::string& init_from) {
  for (const char* flag : {"--layers", "--hidden"})
    if (given(sub, flag))
      throw UsageError(std::string(flag) +
                       ": --init-from trains the model's own network (its layers and units)");
  std::error_code ec;
  if (std::filesystem::exists(init_from, ec)) {
    try {
      return pipeline::load_model(init_from).path.string();  // a run directory: its best
    } catch (const ::melodl::Error& e) {
      throw UsageError(std::string("--init-from: ") + e.what());
    }
  }
  if (pipeline::lookup_model(init_from)) return pipeline::find_model(init_from).string();
  throw UsageError("--init-from " + init_from +
                   ": no such checkpoint file or run directory, and no shipped model of that "
                   "name (models: " +
                   pipeline::model_names() + ")");
}

std::filesystem::path model_location(const std::string& checkpoint, const std::string& model) {
  if (!checkpoint.empty() && !model.empty())
    throw UsageError("give a checkpoint (or run directory) or --model, not both");
  if (!model.empty()) {
    try {
      return pipeline::find_model(model);
    } catch (const InvalidArgument& e) {
      throw UsageError(std::string("--model: ") + e.what());
    }
  }
  if (checkpoint.empty())
    throw UsageError("give a checkpoint file or run directory, or --model NAME (shipped models: " +
                     pipeline::model_names() + ")");
  std::error_code ec;
  if (!std::filesystem::exists(checkpoint, ec) && pipeline::lookup_model(checkpoint))
    throw UsageError(checkpoint +
                     ": no such file or run directory (for the shipped model, give "
                     "--model " +
                     checkpoint + ")");
  return checkpoint;
}

}  // namespace melodl::cli
