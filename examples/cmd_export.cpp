// examples/cmd_export.cpp: `melodl export CHECKPOINT -o FILE`: a trained model as one small
// file to share or ship (how models/ is made, scripts/train_models.sh): the network's weights
// and vocabulary only (no optimiser state), stored as F16 by default (half the size; --dtype
// bf16 or f32), with a description for `melodl models` and `melodl serve`. With --data it
// scores the source model and the exported one on the same melodies, so the cost of the
// rounding is measured, not assumed. The file loads wherever a checkpoint does (compose,
// eval, serve, train --init-from). Docs: docs/models.md.
// Usage: melodl export runs/bach -o models/bach.safetensors --data heldout.txt
//          --description "Bach melodies"
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/flags.h"
#include "examples/train_flags.h"
#include "lstm/checkpoint.h"
#include "pipeline/composing.h"
#include "pipeline/corpus_inputs.h"

namespace {

namespace fs = std::filesystem;
namespace pl = melodl::pipeline;
namespace lstm = melodl::lstm;
using melodl::cli::Error;
using melodl::cli::UsageError;

struct ExportArgs {
  std::string checkpoint, model, which = "best";
  std::string output;
  std::string dtype = "f16";
  std::string description, corpus;
  std::string data, style;
  bool strict = false;
  bool quiet = false;
};

lstm::DType dtype_of(const std::string& s) {
  return s == "f32" ? lstm::DType::f32 : s == "bf16" ? lstm::DType::bf16 : lstm::DType::f16;
}

int run_export(const ExportArgs& a) {
  const pl::LoadedModel src = pl::load_model(melodl::cli::model_location(a.checkpoint, a.model), {},
                                             melodl::cli::checkpoint_choice(a.which));
  const fs::path out(a.output);
  if (fs::weakly_canonical(out) == fs::weakly_canonical(src.path))
    throw UsageError("-o " + a.output + " is the model read: give another file");
  const lstm::Network net = src.checkpoint.make_network();
  std::map<std::string, std::string> extra;
  // The run state keeps the training history (epochs, validation bits/note) for the cards
  // `melodl serve` shows; the data hash and the rest of the run's bookkeeping are dropped.
  if (auto it = src.checkpoint.extra.find("run_state"); it != src.checkpoint.extra.end())
    extra["run_state"] = it->second;
  if (!a.description.empty()) extra["description"] = a.description;
  if (!a.corpus.empty()) extra["corpus"] = a.corpus;
  const lstm::DType dt = dtype_of(a.dtype);
  extra["weights_dtype"] = std::string(lstm::dtype_name(dt));
  lstm::save_checkpoint(out, net, src.checkpoint.vocabulary, extra, {}, dt);

  const pl::LoadedModel back = pl::load_model(out);
  const lstm::Network net2 = back.checkpoint.make_network();
  double max_err = 0.0;
  for (std::size_t i = 0; i < src.checkpoint.params.size(); ++i)
    max_err = std::max(max_err, static_cast<double>(std::abs(src.checkpoint.params[i] -
                                                             back.checkpoint.params[i])));
  if (!a.quiet)
    std::printf(
        "melodl export: %s -> %s (%s weights, %zu parameters, %.2f MiB; largest rounding "
        "change %.3g)\n",
        src.path.c_str(), out.c_str(), a.dtype.c_str(), src.checkpoint.params.size(),
        static_cast<double>(fs::file_size(out)) / (1024.0 * 1024.0), max_err);
  if (a.data.empty()) return 0;

  const pl::LineKind kind = src.vocab.kind();
  std::vector<pl::CorpusMelody> mel =
      pl::load_corpus({a.data}, 0, kind, {}, melodl::cli::read_mode(a.strict)).melodies();
  if (mel.empty()) throw Error(a.data + ": no " + std::string(pl::to_string(kind)) + " to score");
  try {
    src.vocab.check_style(a.style);
  } catch (const melodl::InvalidArgument& e) {
    throw UsageError(std::string("--style: ") + e.what());
  }
  for (auto& m : mel) m.style = a.style;
  const pl::ModelScore s32 = pl::score_network(net, src.vocab, mel);
  const pl::ModelScore s16 = pl::score_network(net2, back.vocab, mel);
  std::printf(
      "melodl export: on %s (%zu %s, %zu notes): %.4f bits/note as trained, %.4f exported "
      "(%+.4f)\n",
      a.data.c_str(), s32.melodies, kind == pl::LineKind::melody ? "melodies" : "harmonies",
      s32.notes, s32.bits_per_note(), s16.bits_per_note(),
      s16.bits_per_note() - s32.bits_per_note());
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<ExportArgs>();
  melodl::cli::add_model_source(sub, a->checkpoint, a->model);
  melodl::cli::add_checkpoint_choice(sub, a->which);
  sub.add_option("-o,--output", a->output, "The file to write (NAME.safetensors)")->required();
  sub.add_option("--dtype", a->dtype,
                 "Stored type of the weights: f16 (half the size, 11 significant bits), bf16 "
                 "(8 bits) or f32 (exact)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f16", "bf16", "f32"}));
  sub.add_option("--description", a->description,
                 "One line on what the model composes (shown by `melodl models` and serve)");
  sub.add_option("--corpus", a->corpus, "What it was trained on (shown by serve)");
  sub.add_option("--data", a->data,
                 "Score the model before and after export on these melodies (a melodies file "
                 "or MIDI) and print both bits/note");
  melodl::cli::add_style_choice(sub, a->style);
  melodl::cli::add_strict_flag(sub, a->strict);
  sub.add_flag("-q,--quiet", a->quiet, "Print only the --data scores");
  return [a] { return run_export(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(export_cmd, "export",
                        "Write a trained model as one small file (F16 weights) to share or ship",
                        setup);
