// examples/cmd_classify.cpp: `melodl classify`: are melodies told apart by corpus? Trains
// one n-gram model per labelled corpus (eval/classify.h, interpolated Kneser-Ney) and assigns
// each labelled sample to the corpus whose model gives it the fewest bits; prints the
// confusion table (markdown) and the accuracy. The check of issue 15: samples composed with
// `melodl compose --style X` should be classified as X (scripts/style_experiment.sh).
// Usage: melodl classify --corpus bach=bach.txt --corpus folk=folk/
//          --samples bach=out-bach/compositions.txt --samples folk=out-folk/compositions.txt
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "eval/classify.h"
#include "examples/cli_error.h"
#include "examples/command.h"
#include "examples/flags.h"
#include "pipeline/corpus_inputs.h"

namespace pl = melodl::pipeline;
namespace eval = melodl::eval;

namespace {

using melodl::cli::add_in_range;
using melodl::cli::name_and_path;
using melodl::cli::UsageError;

struct ClassifyArgs {
  std::vector<std::string> corpora, samples;
  int order = 4;
  bool json = false;
  bool strict = false;
  unsigned jobs = 0;
};

int run_classify(const ClassifyArgs& a) {
  const pl::Vocabulary vocab = pl::Vocabulary::full(pl::LineKind::melody);
  const auto mode = melodl::cli::read_mode(a.strict);
  auto sequences = [&](const std::string& path) {
    const pl::Corpus c = pl::load_corpus({path}, a.jobs, pl::LineKind::melody, {}, mode);
    if (c.melodies().empty()) throw melodl::cli::Error(path + ": no melodies");
    return pl::ngram_sequences(c.melodies(), vocab);
  };
  eval::NgramClassifier classifier(static_cast<int>(vocab.chars().size()) - 2, {.order = a.order});
  for (const auto& v : a.corpora) {
    const auto [name, path] = name_and_path("--corpus", v);
    try {
      classifier.add(name, sequences(path));
    } catch (const melodl::InvalidArgument& e) {
      throw UsageError("--corpus " + v + ": " + e.what());
    }
  }
  std::vector<std::pair<std::string, std::vector<std::vector<int>>>> sets;
  for (const auto& v : a.samples) {
    auto [name, path] = name_and_path("--samples", v);
    if (classifier.index(name) < 0)
      throw UsageError("--samples " + v + ": no --corpus is labelled '" + name + "'");
    sets.emplace_back(name, sequences(path));
  }
  const eval::Confusion c = eval::confusion(classifier, sets);
  if (a.json) {
    const nlohmann::json j{{"labels", c.labels},       {"counts", c.counts},
                           {"correct", c.correct()},   {"total", c.total()},
                           {"accuracy", c.accuracy()}, {"order", a.order}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s", c.markdown().c_str());
  }
  return 0;
}

melodl::cli::Runner setup(CLI::App& sub) {
  auto a = std::make_shared<ClassifyArgs>();
  sub.add_option("--corpus", a->corpora,
                 "NAME=PATH: a labelled corpus (melodies file, MIDI file or folder) to train "
                 "the label's n-gram model on; two or more")
      ->type_name("NAME=PATH")
      ->required();
  sub.add_option("--samples", a->samples,
                 "NAME=PATH: melodies known to be of style NAME (e.g. `melodl compose --style "
                 "NAME` output), classified and counted in NAME's row")
      ->type_name("NAME=PATH")
      ->required();
  add_in_range(sub, "--order", a->order, "n-gram order of the corpus models", 1, 6);
  sub.add_flag("--json", a->json, "Print JSON (labels, counts [true][verdict], accuracy)");
  sub.add_option("-j,--jobs", a->jobs, "Threads extracting MIDI inputs (0 = all cores)");
  melodl::cli::add_strict_flag(sub, a->strict);
  return [a] { return run_classify(*a); };
}

}  // namespace

MELODL_REGISTER_COMMAND(classify, "classify",
                        "Tell melodies apart by corpus: n-gram classifier and confusion table",
                        setup);
