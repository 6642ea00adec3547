// examples/cmd_train.cpp: `melodl train`: melodies (a melodies file, or MIDI files and
// folders) -> a trained LSTM in a run directory: progress, validation bits per symbol/note
// and samples after every epoch, checkpoints, clean stop on SIGINT/SIGTERM, --resume. The
// flags become a pipeline::RunConfig that pipeline::TrainSession runs; this file prints
// (train_output.h) and serves --viz (live_view.h). Docs: docs/training.md.
// Usage: melodl train melodies.txt --time-budget 10m --run-dir runs/bach
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/cuda_options.h"
#include "examples/flags.h"
#include "examples/live_view.h"
#include "examples/ranks.h"
#include "examples/train_flags.h"
#include "examples/train_output.h"
#include "pipeline/run_config.h"
#include "pipeline/train_session.h"

namespace {

using melodl::cli::add_in_range;

namespace pl = melodl::pipeline;
using melodl::cli::UsageError;

struct TrainArgs {
  std::vector<std::string> inputs;
  std::string valid_file;
  double valid_fraction = 0.1;
  std::uint64_t seed = 1;
  std::string preset;
  bool harmonies = false;  // --harmonies: two-part harmonies instead of melodies
  bool strict = false;     // --strict: refuse damaged MIDI inputs (stored in config.json)
  int layers = 2, hidden = 256;
  std::string tbptt = "100";
  int batch = 32, window = 500;
  std::string optimizer = "adam";
  float lr = 2e-3f, l2 = 0.0f, clip = 0.0f;
  int epochs = 0;
  std::string time_budget;
  std::string device = "cpu";
  melodl::cli::CudaOptions cuda;  // --cuda-* (examples/cuda_options.h)
  int threads = 0;
  std::string run_dir;
  std::string resume;
  std::string init_from;  // --init-from: a shipped model's name, a checkpoint or a run
  int samples_per_epoch = 4;
  int sample_length = 500;
  float temperature = 1.0f;
  bool wav = false;
  std::string checkpoint_every = "5m";
  int keep = 3;
  int program = 0;
  int upper_program = 24;
  unsigned jobs = 0;
  bool quiet = false;
  melodl::cli::LiveViewFlags viz;  // --viz* (examples/live_view.h)
  melodl::cli::TrainingFlags reg;  // --dropout ... --lr-schedule ... --patience (train_flags.h)
  CLI::App* sub = nullptr;
};

bool given(const TrainArgs& a, const char* name) { return melodl::cli::given(*a.sub, name); }

using melodl::cli::time_budget;

// The configuration of a new run from the flags (a preset fills what was not given).
pl::RunConfig config_from_args(const TrainArgs& a) {
  pl::RunConfig c;
  c.inputs = a.inputs;
  c.valid_file = a.valid_file;
  c.valid_fraction = a.valid_fraction;
  c.kind = a.harmonies ? pl::LineKind::harmony : pl::LineKind::melody;
  c.strict_midi = a.strict;
  c.wav = a.wav;
  c.program = a.program;
  c.upper_program = a.upper_program;
  pl::TrainSettings& s = c.settings;
  s.network.layers = a.layers;
  s.network.hidden = a.hidden;
  s.network.seed = 12345 + a.seed;
  s.execution.threads = a.threads;
  s.execution.device = melodl::lstm::device_from_string(a.device);
  melodl::cli::apply_cuda_options(*a.sub, a.cuda, s.execution, false);
  s.train.optimizer.kind = melodl::lstm::optimizer_kind_from_string(
      a.optimizer == "dl4j-rmsprop" ? std::string("dl4j_rmsprop") : a.optimizer);
  s.train.optimizer.lr = a.lr;
  s.train.optimizer.l2 = a.l2;
  s.train.optimizer.clip_norm = a.clip;
  s.train.tbptt_fwd = s.train.tbptt_bwd = 100;  // the default of --tbptt
  s.train.seed = a.seed;
  s.batch = a.batch;
  s.window = a.window;
  s.sample_length = a.sample_length;
  try {
    c.preset = pl::apply_preset(a.preset, c.kind, s, [&](const char* f) { return given(a, f); });
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }
  if (given(a, "--tbptt")) {
    const auto slash = a.tbptt.find('/');
    try {
      s.train.tbptt_fwd = std::stoi(a.tbptt.substr(0, slash));
      s.train.tbptt_bwd =
          slash == std::string::npos ? s.train.tbptt_fwd : std::stoi(a.tbptt.substr(slash + 1));
    } catch (const std::exception&) {
      throw UsageError("--tbptt: expected N or FWD/BWD, got '" + a.tbptt + "'");
    }
    if (s.train.tbptt_fwd < 1 || s.train.tbptt_bwd < 1)
      throw UsageError("--tbptt: lengths must be >= 1, got '" + a.tbptt + "'");
  }
  s.epochs = a.epochs;
  s.time_budget_s = a.time_budget.empty() ? 0.0 : time_budget(a.time_budget);
  s.checkpoint_every_s = melodl::cli::parse_duration(a.checkpoint_every, "--checkpoint-every");
  s.keep_checkpoints = a.keep;
  s.samples_per_epoch = a.samples_per_epoch;
  s.sample_temperature = a.temperature;
  s.seed = a.seed;
  melodl::cli::apply_training_flags(*a.sub, a.reg, c);  // after the preset: needs c.preset
  melodl::cli::apply_style_flags(a.reg, c);             // --style NAME=PATH
  if (s.epochs == 0 && s.time_budget_s <= 0) s.epochs = 10;
  if (!a.init_from.empty()) c.init_from = melodl::cli::init_from_checkpoint(*a.sub, a.init_from);
  return c;
}

// The stored configuration of a run to resume, with what the flags may change.
pl::RunConfig config_to_resume(const TrainArgs& a) {
  pl::RunConfig c = pl::read_run_config(a.resume);
  c.wav = c.wav || a.wav;
  if (given(a, "--program")) c.program = a.program;
  if (given(a, "--upper-program")) c.upper_program = a.upper_program;
  pl::TrainSettings& s = c.settings;  // a resumed run may get more epochs or time, or threads
  if (given(a, "--epochs")) s.epochs = a.epochs;
  if (given(a, "--time-budget")) s.time_budget_s = time_budget(a.time_budget);
  if (given(a, "--threads")) s.execution.threads = a.threads;
  if (given(a, "--device")) s.execution.device = melodl::lstm::device_from_string(a.device);
  melodl::cli::apply_cuda_options(*a.sub, a.cuda, s.execution, true);
  melodl::cli::apply_resume_training_flags(*a.sub, a.reg, s);
  return c;
}

int run_train(TrainArgs& a) {
  // --device: cuda fails with the CUDA probe's reason when no GPU is usable (or the build
  // has no CUDA); auto falls back to the CPU. Checked before any data is read.
  try {
    const std::string backend = melodl::lstm::to_string(
        melodl::lstm::resolve_device(melodl::lstm::device_from_string(a.device)));
    if (a.device == "auto" && !a.quiet)
      std::printf("melodl train: --device auto: training on %s\n", backend.c_str());
  } catch (const std::exception& e) {
    throw melodl::cli::Error(std::string("--device ") + a.device + ": " + e.what());
  }
  const bool follower = melodl::cli::follower_rank();  // ranks 1.. of `mpirun -np N`
  if (follower) a.viz.option->clear();                 // rank 0 alone serves the view
  melodl::cli::LiveView view(a.viz, a.seed);
  const bool resuming = !a.resume.empty();
  const std::string run_dir =
      resuming ? a.resume : (a.run_dir.empty() ? pl::default_run_dir() : a.run_dir);
  if (resuming && !a.init_from.empty())
    throw UsageError(
        "--init-from starts a new run; --resume continues one from its own checkpoints");
  if (!resuming && a.inputs.empty() && a.reg.styles.empty())
    throw UsageError(
        "give melodies files / MIDI inputs (or --style NAME=PATH), or --resume RUN_DIR");
  pl::RunConfig config = resuming ? config_to_resume(a) : config_from_args(a);
  if (!resuming && !a.harmonies)
    for (const auto& in : pl::input_paths(config))
      if (pl::input_kind(in) == pl::LineKind::harmony)
        throw UsageError(in +
                         ": a harmonies file (from `melodl extract --harmonies`); add "
                         "--harmonies to train on two-part harmonies");
  config.settings.reducer = melodl::cli::job_ranks();  // several ranks: data-parallel
  try {
    config.settings.validate();
  } catch (const melodl::lstm::InvalidArgument&) {
    throw;  // NetworkConfig / TrainConfig checks of the LSTM library stay errors: exit 1
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(e.what());
  }

  const pl::InputEvents events = melodl::cli::extraction_events(a.quiet);
  pl::TrainSession session =
      resuming ? pl::TrainSession::resume(run_dir, config, given(a, "--threads") ? a.threads : 0,
                                          a.jobs, events)
               : pl::TrainSession::start(run_dir, config, a.jobs, events);
  if (!a.quiet) melodl::cli::print_run_header(session);

  melodl::cli::StopSignals signals;  // SIGINT/SIGTERM: stop; a second one abandons a write
  view.start(session, &signals.stop_flag());

  melodl::cli::TrainProgress progress(a.quiet);
  pl::TrainCallbacks cb;
  cb.progress = [&](const pl::ProgressInfo& p) { progress.update(p); };
  cb.log = [&](const std::string& msg) {
    progress.clear();
    std::fprintf(stderr, "melodl train: %s\n", msg.c_str());
  };
  cb.epoch_end = [&](const pl::EpochMetrics& m, const std::vector<pl::Composition>& samples) {
    progress.clear();
    view.on_epoch(m, samples, session.config().kind);
    if (!a.quiet) melodl::cli::print_epoch(session, m, !samples.empty());
  };
  view.attach(cb);
  cb.abandon_write = melodl::cli::StopSignals::abandon_write;

  const pl::SessionResult result =
      session.run(signals.stop_flag(), follower ? pl::TrainCallbacks{} : cb);
  progress.clear();
  signals.restore();
  if (result.end != pl::RunEnd::finished) {
    melodl::cli::print_stopped(session, result.end, melodl::cli::StopSignals::cause());
    return 130;
  }
  if (!a.quiet) {
    melodl::cli::print_novelty(result);
    melodl::cli::print_done(session);
  }
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<TrainArgs>();
  a->sub = &sub;
  sub.footer(
      "Run directory: config.json, checkpoints/ (ckpt-NNNNNN.safetensors + latest), "
      "best.safetensors (lowest validation bits/note; compose and eval use it), "
      "samples/epoch-NNN/ (MIDI, WAV with --wav, samples.txt), composition.txt (all samples, "
      "newest first), manifest.json. Ctrl-C writes a checkpoint and exits (code 130); "
      "continue with --resume RUN_DIR. See docs/training.md.");
  sub.add_option("inputs", a->inputs,
                 "Melodies files from `melodl extract`, or MIDI files / folders");
  sub.add_option("--valid", a->valid_file, "Validation melodies (instead of splitting the inputs)");
  add_in_range(sub, "--valid-fraction", a->valid_fraction,
               "Fraction of source FILES held out for validation", 0.0, 0.9);
  sub.add_option("--seed", a->seed, "Seed of the split, data order, weights and samples")
      ->capture_default_str();
  sub.add_option("--preset", a->preset,
                 "melodl4j: 2x200, DL4J RMSProp 0.1, L2 0.001, TBPTT 50, batch 32, window 500; "
                 "harmonies (the default with --harmonies): 3x100, Adam 0.002, L2 5e-6 (the "
                 "original's 0.0015 on DL4J's summed gradient), TBPTT 300, batch 32, window "
                 "2000; melodl4j-harmonies: the same with Adam 0.05 as the original");
  sub.add_flag("--harmonies", a->harmonies,
               "Train on two-part harmonies (harmonies files of `melodl extract --harmonies`, or "
               "MIDI); samples are two-track MIDI");
  melodl::cli::add_init_from_flag(sub, a->init_from);
  sub.add_option("--layers", a->layers, "LSTM layers")->capture_default_str();
  sub.add_option("--hidden", a->hidden, "Units per layer")->capture_default_str();
  sub.add_option("--tbptt", a->tbptt, "Truncated BPTT length: N or FWD/BWD")->capture_default_str();
  sub.add_option("--batch", a->batch, "Windows per minibatch")->capture_default_str();
  sub.add_option("--window", a->window, "Symbols per training window")->capture_default_str();
  sub.add_option("--optimizer", a->optimizer, "adam, rmsprop, dl4j-rmsprop or sgd")
      ->capture_default_str()
      ->check(CLI::IsMember({"adam", "rmsprop", "dl4j-rmsprop", "sgd"}));
  sub.add_option("--lr", a->lr, "Learning rate")->capture_default_str();
  sub.add_option("--l2", a->l2, "L2 coefficient on weights")->capture_default_str();
  sub.add_option("--clip", a->clip, "Global gradient-norm clip (0 = off)")->capture_default_str();
  melodl::cli::add_training_flags(sub, a->reg);
  sub.add_option("--epochs", a->epochs, "Epochs (default 10 when no --time-budget)");
  sub.add_option("--time-budget", a->time_budget, "Training time limit, e.g. 10m, 45s, 1h");
  sub.add_option("--device", a->device,
                 "cpu, cuda (the GPU backend) or "
                 "auto (cuda when a GPU is usable, else cpu)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  melodl::cli::add_cuda_options(sub, a->cuda);
  sub.add_option("--threads", a->threads,
                 "CPU threads (0 = all); results are deterministic per count")
      ->capture_default_str();
  sub.add_option("--run-dir", a->run_dir, "Run directory (default runs/<UTC timestamp>)");
  sub.add_option("--resume", a->resume, "Continue the run in this directory");
  sub.add_option("--samples-per-epoch", a->samples_per_epoch, "Melodies composed after each epoch")
      ->capture_default_str();
  sub.add_option("--sample-length", a->sample_length, "Most symbols per sample")
      ->capture_default_str();
  sub.add_option("--temperature", a->temperature, "Sampling temperature of the epoch samples")
      ->capture_default_str();
  sub.add_flag("--wav", a->wav, "Also render samples to WAV (fluidsynth)");
  add_in_range(sub, "--program", a->program,
               "General MIDI instrument of the samples (with --harmonies: the lower voice)", 0,
               127);
  add_in_range(sub, "--upper-program", a->upper_program,
               "With --harmonies: General MIDI instrument of the upper voice", 0, 127);
  sub.add_option("--checkpoint-every", a->checkpoint_every,
                 "Checkpoint interval besides epoch ends (0 = every batch)")
      ->capture_default_str();
  sub.add_option("--keep-checkpoints", a->keep, "Checkpoints kept")->capture_default_str();
  sub.add_option("-j,--jobs", a->jobs, "Threads extracting MIDI inputs (0 = all)");
  melodl::cli::add_strict_flag(sub, a->strict);
  sub.add_flag("-q,--quiet", a->quiet, "No progress or summary");
  melodl::cli::add_live_view_options(sub, a->viz);
  return [a] { return melodl::cli::run_as_rank("melodl train", [&] { return run_train(*a); }); };
}

}  // namespace

MELODL_REGISTER_COMMAND(train, "train", "Train an LSTM on melodies (melodies file or MIDI)", setup);
