// examples/cmd_eval.cpp: `melodl eval CHECKPOINT --data MELODIES [--train MELODIES]`:
// bits per symbol and per note of the model and of Kneser-Ney n-gram baselines
// (n = 1..6, trained on the training melodies) on the same evaluation melodies, the
// invalid-symbol rate of unconstrained samples and the style of (constrained) samples
// against the training melodies. Text table, or --json. For a harmony model (trained
// with --harmonies) the data are harmonies files (or MIDI, extracted as harmonies), a
// "note" is a note onset in either voice, and style compares both voices as melodies.
// Without --train, --data is split by source file (--valid-fraction, --seed: the same
// defaults as `melodl train`, so a run's own validation split is reproduced).
// Usage: melodl eval runs/bach --data bach.txt --json
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "encode/codec.h"
#include "encode/harmony.h"
#include "eval/ngram.h"
#include "eval/style.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/flags.h"
#include "examples/train_flags.h"
#include "pipeline/composing.h"
#include "pipeline/corpus_inputs.h"

namespace eval = melodl::eval;

namespace {

namespace pl = melodl::pipeline;
using melodl::cli::Error;

struct EvalArgs {
  std::string checkpoint;
  std::string model;           // --model NAME: a shipped model
  std::string which = "best";  // --checkpoint best|latest
  std::string style;           // --style: of a style-conditioned model (tags --data's lines)
  std::string data;
  std::string train;
  double valid_fraction = 0.1;
  std::uint64_t seed = 1;
  int samples = 32;
  int length = 500;
  float temperature = 1.0f;
  bool json = false;
  unsigned jobs = 0;
  bool strict = false;  // --strict: refuse damaged MIDI files in --data / --train
};

void check_covered(const pl::Vocabulary& vocab, const std::vector<pl::CorpusMelody>& mel,
                   const std::string& model, const std::string& data) {
  for (const auto& m : mel)
    for (char c : m.text)
      if (vocab.id(c) < 0)
        throw Error(model + ": the checkpoint's vocabulary \"" + vocab.chars() +
                    "\" lacks symbol '" + c + "' used in " + data + " (" + m.source +
                    "): the model was trained on other data or another format");
}

int run_eval(const EvalArgs& a) {
  const pl::LoadedModel model = pl::load_model(
      melodl::cli::model_location(a.checkpoint, a.model),
      [&](const std::string& s) {
        if (!a.json)
          std::fprintf(stderr, "melodl: warning: passing over checkpoint %s\n", s.c_str());
      },
      melodl::cli::checkpoint_choice(a.which));
  const melodl::lstm::Network net = model.checkpoint.make_network();
  const pl::LineKind kind = model.vocab.kind();
  const bool harmony = kind == pl::LineKind::harmony;
  for (const auto* in : {&a.data, &a.train})
    if (!in->empty() && pl::input_kind(*in) != kind && !harmony)
      throw Error(*in + ": holds harmonies, but " + model.path.string() + " models melodies");
  const auto mode = melodl::cli::read_mode(a.strict);
  const pl::Corpus data = pl::load_corpus({a.data}, a.jobs, kind, {}, mode);
  pl::Split split;
  if (!a.train.empty()) {
    split.valid = data.melodies();
    split.train = pl::load_corpus({a.train}, a.jobs, kind, {}, mode).melodies();
  } else {
    split = data.split_by_source(a.valid_fraction, a.seed);
    if (split.valid.empty())
      throw Error(a.data + ": too few source files to hold some out; give --train");
  }
  check_covered(model.vocab, split.valid, model.path.string(), a.data);
  check_covered(model.vocab, split.train, model.path.string(), a.train.empty() ? a.data : a.train);

  try {  // a styled model needs one of its styles, an unstyled one none
    model.vocab.check_style(a.style);
  } catch (const melodl::InvalidArgument& e) {
    throw melodl::cli::UsageError(std::string("--style: ") + e.what());
  }
  for (auto& m : split.valid) m.style = a.style;
  const pl::ModelScore ms = pl::score_network(net, model.vocab, split.valid);
  const auto train_seq = pl::ngram_sequences(split.train, model.vocab);
  const auto eval_seq = pl::ngram_sequences(split.valid, model.vocab);
  std::vector<std::size_t> notes;
  for (const auto& m : split.valid) notes.push_back(m.notes);
  std::vector<eval::Evaluation> ngram;
  for (int n = 1; n <= eval::NgramModel::kMaxOrder; ++n) {
    eval::NgramModel lm(static_cast<int>(model.vocab.chars().size()) - 2, {.order = n});
    lm.train(train_seq);
    ngram.push_back(eval::evaluate(lm, eval_seq, notes));
  }

  pl::ComposeOptions o;
  o.count = a.samples;
  o.length = a.length;
  o.temperature = a.temperature;
  o.seed = a.seed;
  o.style = a.style;
  o.constrained = false;
  pl::ComposeStats free_stats;
  const auto free_samples = pl::compose(net, model.vocab, o, &free_stats);
  eval::InvalidRate invalid;
  if (harmony) {
    // Symbols the harmony decoder skips or reads as something else (a hold with nothing to
    // hold): what the grammar mask prevents.
    for (const auto& c : free_samples) {
      invalid.symbols += c.text.size();
      invalid.skipped += c.harmony.skipped + c.harmony.substituted;
    }
  } else {
    std::vector<std::string> free_lines;
    for (const auto& c : free_samples) free_lines.push_back(c.text);
    invalid = eval::invalid_symbol_rate(melodl::encode::native_codec(), free_lines);
  }
  o.constrained = true;
  pl::ComposeStats cstats;
  const auto samples = pl::compose(net, model.vocab, o, &cstats);
  std::vector<melodl::encode::SymbolMelody> sample_mel, corpus_mel;
  const auto add_voices = [](const melodl::encode::SymbolHarmony& h,
                             std::vector<melodl::encode::SymbolMelody>& out) {
    for (const auto* v : {&h.lower, &h.upper}) {
      auto m = melodl::encode::voice_melody(*v);
      if (!m.steps.empty()) out.push_back(std::move(m));
    }
  };
  for (const auto& c : samples) {
    if (harmony)
      add_voices(c.harmony.harmony, sample_mel);
    else if (!c.decoded.melody.steps.empty())
      sample_mel.push_back(c.decoded.melody);
  }
  for (const auto& m : split.train) {
    if (harmony)
      add_voices(m.harmony, corpus_mel);
    else
      corpus_mel.push_back(m.melody);
  }
  const eval::StyleOverlap style =
      eval::compare_style(eval::style_of(corpus_mel), eval::style_of(sample_mel));

  std::size_t best = 0;
  for (std::size_t i = 1; i < ngram.size(); ++i)
    if (ngram[i].bits_per_note() < ngram[best].bits_per_note()) best = i;

  if (a.json) {
    nlohmann::json j;
    j["checkpoint"] = model.path.string();
    j["kind"] = pl::to_string(kind);
    j["data"] = {{"eval_melodies", split.valid.size()},
                 {"eval_symbols", ms.symbols},
                 {"eval_notes", ms.notes},
                 {"train_melodies", split.train.size()}};
    j["model"] = {{"bits_per_symbol", ms.bits_per_symbol()}, {"bits_per_note", ms.bits_per_note()}};
    j["ngram"] = nlohmann::json::array();
    for (std::size_t i = 0; i < ngram.size(); ++i)
      j["ngram"].push_back({{"n", i + 1},
                            {"bits_per_symbol", ngram[i].bits_per_symbol()},
                            {"bits_per_note", ngram[i].bits_per_note()}});
    j["best_ngram"] = best + 1;
    j["model_beats_best_ngram"] = ms.bits_per_note() < ngram[best].bits_per_note();
    j["unconstrained_samples"] = {{"count", free_samples.size()},
                                  {"symbols", invalid.symbols},
                                  {"invalid", invalid.skipped},
                                  {"invalid_rate", invalid.rate()}};
    j["constrained_samples"] = {{"count", samples.size()}, {"decoded_cleanly", cstats.clean}};
    j["style_overlap"] = {
        {"intervals", style.intervals}, {"durations", style.durations}, {"rests", style.rests}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  const char* word = harmony ? "harmonies" : "melodies";
  std::printf("melodl eval: %s on %zu %s (%zu symbols, %zu notes); n-grams trained on %zu %s\n",
              model.path.c_str(), split.valid.size(), word, ms.symbols, ms.notes,
              split.train.size(), word);
  std::printf("  %-14s %12s %12s\n", "model", "bits/symbol", "bits/note");
  std::printf("  %-14s %12.4f %12.4f\n", "LSTM", ms.bits_per_symbol(), ms.bits_per_note());
  for (std::size_t i = 0; i < ngram.size(); ++i)
    std::printf("  %-14s %12.4f %12.4f%s\n", (std::to_string(i + 1) + "-gram KN").c_str(),
                ngram[i].bits_per_symbol(), ngram[i].bits_per_note(),
                i == best ? "  (best n-gram)" : "");
  std::printf("  LSTM %s the best n-gram by %.4f bits/note\n",
              ms.bits_per_note() < ngram[best].bits_per_note() ? "beats" : "does NOT beat",
              std::abs(ngram[best].bits_per_note() - ms.bits_per_note()));
  std::printf("  unconstrained samples: %zu %s, %zu symbols, %zu invalid (%.2f%%)\n",
              free_samples.size(), word, invalid.symbols, invalid.skipped, 100.0 * invalid.rate());
  std::printf(
      "  constrained samples: %zu/%zu decode cleanly; style overlap with the training %s%s: "
      "intervals %.3f, durations %.3f, rests %.3f\n",
      cstats.clean, samples.size(), word, harmony ? " (each voice as a melody)" : "",
      style.intervals, style.durations, style.rests);
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<EvalArgs>();
  melodl::cli::add_model_source(sub, a->checkpoint, a->model);
  melodl::cli::add_checkpoint_choice(sub, a->which);
  melodl::cli::add_style_choice(sub, a->style);
  sub.add_option("--data", a->data, "Melodies file (or MIDI folder) to evaluate on")->required();
  sub.add_option("--train", a->train,
                 "Training melodies for the n-gram baselines and style (default: split --data)");
  sub.add_option("--valid-fraction", a->valid_fraction,
                 "Without --train: fraction of source files evaluated")
      ->capture_default_str();
  sub.add_option("--seed", a->seed, "Split and sampling seed")->capture_default_str();
  sub.add_option("--samples", a->samples, "Samples for the invalid-symbol rate and style")
      ->capture_default_str();
  sub.add_option("--length", a->length, "Most symbols per sample")->capture_default_str();
  sub.add_option("--temperature", a->temperature, "Sampling temperature")->capture_default_str();
  sub.add_flag("--json", a->json, "Print JSON instead of a table");
  sub.add_option("-j,--jobs", a->jobs, "Threads extracting MIDI inputs");
  melodl::cli::add_strict_flag(sub, a->strict);
  return [a] { return run_eval(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(eval, "eval", "Evaluate a model against n-gram baselines", setup);
