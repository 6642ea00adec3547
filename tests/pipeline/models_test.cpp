// tests/pipeline/models_test.cpp: pretrained models (docs/models.md): finding them by name
// (MELODL_MODELS, pipeline/models.h), `melodl export` / `models` / `compose --model` /
// `eval --model`, fine-tuning with `train --init-from`, and the models shipped in models/:
// each loads, composes 8 pieces that all decode, and scores its card's held-out data within
// 0.02 bits/note of the card.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "encode/codec.h"
#include "lstm/checkpoint.h"
#include "lstm/checkpoint_file.h"
#include "pipeline/composing.h"
#include "pipeline/corpus_inputs.h"
#include "pipeline/models.h"
#include "pipeline/playback.h"
#include "tests/pipeline/train_test_util.h"

namespace pl = melodl::pipeline;
namespace fs = std::filesystem;
using melodl::train_test::melodies_file;
using melodl::train_test::run_command;
using melodl::train_test::temp_dir;

namespace {

// A small untrained melody model saved as DIR/NAME.safetensors (+ a card when `card`).
void write_model(const fs::path& dir, const std::string& name, const std::string& card) {
  fs::create_directories(dir);
  melodl::lstm::NetworkConfig cfg;
  cfg.vocab = pl::Vocabulary::full().size();
  cfg.layers = 1;
  cfg.hidden = 8;
  melodl::lstm::save_checkpoint(dir / (name + ".safetensors"), melodl::lstm::Network(cfg),
                                pl::Vocabulary::full().stored());
  if (!card.empty()) std::ofstream(dir / (name + ".json")) << card;
}

// Sets MELODL_MODELS for the scope.
struct ModelsEnv {
  explicit ModelsEnv(const std::string& value) { ::setenv("MELODL_MODELS", value.c_str(), 1); }
  ~ModelsEnv() { ::unsetenv("MELODL_MODELS"); }
};

}  // namespace

TEST(ModelSearch, FindsModelsByNameFirstFolderFirst) {
  const fs::path dir = temp_dir("models-search");
  write_model(dir / "a", "tiny",
              R"({"description": "a tiny one", "heldout": [{"bits_per_note": 4.5}]})");
  write_model(dir / "a", "Bad Name", "");
  write_model(dir / "b", "tiny", R"({"description": "shadowed"})");
  write_model(dir / "b", "other", "not json");
  const ModelsEnv env((dir / "a").string() + ":" + (dir / "b").string());

  const auto path = pl::model_search_path();
  ASSERT_GE(path.size(), 2u);
  EXPECT_EQ(path[0], dir / "a");
  EXPECT_EQ(path[1], dir / "b");

  const auto tiny = pl::lookup_model("tiny");
  ASSERT_TRUE(tiny.has_value());
  EXPECT_EQ(tiny->file, dir / "a" / "tiny.safetensors");
  EXPECT_EQ(tiny->description, "a tiny one");
  EXPECT_EQ(tiny->heldout_bits_per_note, 4.5);
  const auto other = pl::lookup_model("other");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->description, "");  // an unreadable card does not hide the model
  EXPECT_FALSE(pl::lookup_model("Bad Name").has_value());
  EXPECT_FALSE(pl::lookup_model("../a/tiny").has_value());
  EXPECT_FALSE(pl::lookup_model("").has_value());

  bool listed = false;
  for (const auto& m : pl::list_models())
    listed = listed || (m.name == "tiny" && m.file == tiny->file);
  EXPECT_TRUE(listed);
  EXPECT_EQ(pl::find_model("tiny"), tiny->file);
  try {
    (void)pl::find_model("nope");
    FAIL() << "an unknown model was found";
  } catch (const melodl::InvalidArgument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("\"nope\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("tiny"), std::string::npos) << msg;                // names what there is
    EXPECT_NE(msg.find((dir / "a").string()), std::string::npos) << msg;  // and where it looked
  }
}

#ifdef MELODL_EXE
namespace {

const std::string kMelodl = MELODL_EXE;
const char* kTinyFlags =
    " --layers 1 --hidden 16 --window 40 --tbptt 20 --batch 2 --threads 1 --seed 3"
    " --valid-fraction 0.25 --samples-per-epoch 0";

// The validation bits/note of a run's first epoch (manifest.json).
double first_epoch_bits(const fs::path& run) {
  std::ifstream in(run / "manifest.json");
  const auto m = nlohmann::json::parse(in);
  return m.at("epochs").at(0).at("valid_bits_per_note").get<double>();
}

}  // namespace

TEST(ModelCli, ExportListComposeAndEvalByName) {
  const fs::path dir = temp_dir("models-cli");
  const fs::path data = melodies_file(dir, "alpha", 1);
  const fs::path run = dir / "run";
  const auto t = run_command(kMelodl + " train -q " + data.string() + kTinyFlags +
                             " --epochs 3 --run-dir " + run.string());
  ASSERT_EQ(t.code, 0) << t.output;
  const fs::path models = dir / "models";
  fs::create_directories(models);
  const fs::path file = models / "tiny.safetensors";
  const auto e = run_command(kMelodl + " export " + run.string() + " -o " + file.string() +
                             " --description 'tiny test model' --data " + data.string());
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("f16 weights"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("bits/note as trained"), std::string::npos) << e.output;
  // Stored in F16, without optimiser state, and it scores as the trained model to 0.01.
  const auto f = melodl::lstm::read_checkpoint_file(file);
  EXPECT_EQ(melodl::lstm::find_tensor(f, "layer0.W").dtype, melodl::lstm::DType::f16);
  EXPECT_THROW(melodl::lstm::find_tensor(f, "optim.m.layer0.W"), melodl::lstm::CheckpointError);
  const pl::Corpus corpus = pl::load_corpus({data.string()}, 1, pl::LineKind::melody);
  const pl::LoadedModel trained = pl::load_model(run);
  const pl::LoadedModel shipped = pl::load_model(file);
  EXPECT_EQ(shipped.checkpoint.extra.at("description"), "tiny test model");
  const double b32 =
      pl::score_network(trained.checkpoint.make_network(), trained.vocab, corpus.melodies())
          .bits_per_note();
  const double b16 =
      pl::score_network(shipped.checkpoint.make_network(), shipped.vocab, corpus.melodies())
          .bits_per_note();
  EXPECT_NEAR(b16, b32, 0.01);
  EXPECT_THROW(melodl::lstm::load_checkpoint(file).make_trainer(), melodl::lstm::InvalidArgument);

  const std::string env = "MELODL_MODELS=" + models.string() + " ";
  const auto list = run_command(env + kMelodl + " models");
  ASSERT_EQ(list.code, 0) << list.output;
  EXPECT_NE(list.output.find("tiny"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("melody, 1 x 16"), std::string::npos) << list.output;
  const auto c =
      run_command(env + kMelodl + " compose --model tiny --count 3 -o " + (dir / "out").string());
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("decoded cleanly: 3/3"), std::string::npos) << c.output;
  const auto ev =
      run_command(env + kMelodl + " eval --model tiny --samples 1 --data " + data.string());
  EXPECT_EQ(ev.code, 0) << ev.output;

  // serve without arguments serves every model found (killed by timeout after it started).
  const auto serve = run_command(env + "timeout 4 " + kMelodl + " serve --port 0");
  EXPECT_NE(serve.output.find("model tiny (melody, 1 x 16"), std::string::npos) << serve.output;
  EXPECT_NE(serve.output.find("serving on http://127.0.0.1:"), std::string::npos) << serve.output;
  const auto serve_bad = run_command(env + kMelodl + " serve --port 0 --model nope");
  EXPECT_EQ(serve_bad.code, 2) << serve_bad.output;

  // Errors: an unknown name lists the models; a name given as a path says --model; both or
  // neither of a path and --model.
  const auto unknown = run_command(env + kMelodl + " compose --model nope -o " + dir.string());
  EXPECT_EQ(unknown.code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("tiny"), std::string::npos) << unknown.output;
  const auto as_path =
      run_command("cd " + dir.string() + " && " + env + kMelodl + " compose tiny -o out2");
  EXPECT_EQ(as_path.code, 2) << as_path.output;
  EXPECT_NE(as_path.output.find("--model tiny"), std::string::npos) << as_path.output;
  const auto both = run_command(env + kMelodl + " compose " + run.string() + " --model tiny");
  EXPECT_EQ(both.code, 2) << both.output;
  const auto neither = run_command(env + kMelodl + " compose");
  EXPECT_EQ(neither.code, 2) << neither.output;
  EXPECT_NE(neither.output.find("--model"), std::string::npos) << neither.output;
  const auto same = run_command(kMelodl + " export " + file.string() + " -o " + file.string());
  EXPECT_EQ(same.code, 2) << same.output;
}

TEST(ModelCli, InitFromFineTunesAModelOfItsOwnShapeAndVocabulary) {
  const fs::path dir = temp_dir("models-init");
  const fs::path alpha = melodies_file(dir, "alpha", 1), beta = melodies_file(dir, "beta", 2);
  const fs::path base = dir / "base";
  const auto t = run_command(kMelodl + " train -q " + alpha.string() + kTinyFlags +
                             " --epochs 6 --run-dir " + base.string());
  ASSERT_EQ(t.code, 0) << t.output;
  const fs::path models = dir / "models";
  fs::create_directories(models);
  ASSERT_EQ(run_command(kMelodl + " export -q " + base.string() + " -o " +
                        (models / "tiny.safetensors").string())
                .code,
            0);
  const std::string env = "MELODL_MODELS=" + models.string() + " ";
  // Fine-tune on beta (the same kind of music) by name, and train beta from scratch with the
  // same flags: the fine-tuned run starts from what the model knows.
  const std::string flags =
      " --window 40 --tbptt 20 --batch 2 --threads 1 --seed 3 --valid-fraction 0.25"
      " --samples-per-epoch 0 --epochs 1";
  const fs::path tuned = dir / "tuned", fresh = dir / "fresh";
  const auto ft = run_command(env + kMelodl + " train -q " + beta.string() + flags +
                              " --init-from tiny --run-dir " + tuned.string());
  ASSERT_EQ(ft.code, 0) << ft.output;
  const auto fr = run_command(kMelodl + " train -q " + beta.string() + flags +
                              " --layers 1 --hidden 16 --run-dir " + fresh.string());
  ASSERT_EQ(fr.code, 0) << fr.output;
  const pl::LoadedModel m = pl::load_model(tuned);
  EXPECT_EQ(m.checkpoint.network_config.hidden, 16);  // the model's, not --hidden's 256
  EXPECT_EQ(m.checkpoint.network_config.layers, 1);
  EXPECT_EQ(m.vocab.stored(), pl::load_model(base).vocab.stored());
  {
    std::ifstream in(tuned / "config.json");
    const auto cfg = nlohmann::json::parse(in);
    EXPECT_EQ(cfg.at("init_from"), (models / "tiny.safetensors").string());
    EXPECT_EQ(cfg.at("network").at("hidden"), 16);
  }
  std::printf("first epoch on beta: fine-tuned %.3f, from scratch %.3f bits/note\n",
              first_epoch_bits(tuned), first_epoch_bits(fresh));
  EXPECT_LT(first_epoch_bits(tuned), first_epoch_bits(fresh) - 0.3)
      << first_epoch_bits(tuned) << " vs " << first_epoch_bits(fresh);

  // A run directory or checkpoint works as well as a name.
  const auto by_dir = run_command(kMelodl + " train " + beta.string() + flags + " --init-from " +
                                  base.string() + " --run-dir " + (dir / "by-dir").string());
  EXPECT_EQ(by_dir.code, 0) << by_dir.output;
  EXPECT_NE(by_dir.output.find("initialised from " + (base / "best.safetensors").string()),
            std::string::npos)
      << by_dir.output;

  // What cannot work is refused, naming the problem.
  struct Bad {
    std::string args;
    int code;
    std::string says;
  };
  melodl::encode::SymbolMelody odd;  // an interval of 30 semitones: not in the model's symbols
  odd.steps.push_back({false, 30, 8});
  odd.steps.push_back({false, -30, 8});
  const fs::path odd_file = dir / "odd.txt";
  std::ofstream(odd_file) << pl::generated_lines_file(
      pl::LineKind::melody, {{melodl::encode::native_codec().encode(odd), "odd.mid", 0, 60},
                             {melodl::encode::native_codec().encode(odd), "odd2.mid", 0, 60}});
  const std::vector<Bad> bad = {
      {beta.string() + " --init-from tiny --hidden 32", 2, "--hidden"},
      {beta.string() + " --init-from nope", 2, "tiny"},
      {"--resume " + tuned.string() + " --init-from tiny", 2, "--init-from"},
      {"--style a=" + beta.string() + " --init-from tiny", 1, "no styles"},
      {odd_file.string() + " --init-from tiny", 1, "lacks symbol"},
  };
  int k = 0;
  for (const Bad& b : bad) {
    const auto r = run_command(env + kMelodl + " train -q " + b.args + flags + " --run-dir " +
                               (dir / ("bad" + std::to_string(k++))).string());
    EXPECT_EQ(r.code, b.code) << b.args << "\n" << r.output;
    EXPECT_NE(r.output.find(b.says), std::string::npos) << b.args << "\n" << r.output;
  }
}
#endif  // MELODL_EXE

// ---- the models shipped in models/ ------------------------------------------------------

#ifdef MELODL_SOURCE_MODELS_DIR
TEST(ShippedModels, EachLoadsComposesEightAndReproducesItsCard) {
  const fs::path dir = MELODL_SOURCE_MODELS_DIR;
  std::vector<fs::path> cards;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") cards.push_back(e.path());
  ASSERT_GE(cards.size(), 4u) << "models/ should ship bach, folk, composers and bach-duets";
  for (const fs::path& card_path : cards) {
    std::ifstream in(card_path);
    const auto card = nlohmann::json::parse(in);
    const std::string name = card.at("name");
    SCOPED_TRACE(name);
    const fs::path file = dir / card.at("file").get<std::string>();
    EXPECT_EQ(file.stem().string(), name);
    EXPECT_LE(fs::file_size(file), 4u * 1024 * 1024);  // <= 4 MiB
    const pl::LoadedModel model = pl::load_model(file);
    EXPECT_EQ(pl::to_string(model.vocab.kind()), card.at("kind").get<std::string>());
    const melodl::lstm::Network net = model.checkpoint.make_network();
    // Eight pieces (in each style of a styled model), every one decoding cleanly.
    std::vector<std::string> styles = model.vocab.styles();
    if (styles.empty()) styles.push_back("");
    for (const std::string& style : styles) {
      pl::ComposeOptions o;
      o.count = 8;
      o.seed = 11;
      o.style = style;
      if (model.vocab.kind() == pl::LineKind::harmony) o.length = 1000;
      pl::ComposeStats stats;
      const auto pieces = pl::compose(net, model.vocab, o, &stats);
      EXPECT_EQ(pieces.size(), 8u) << style;
      EXPECT_EQ(stats.clean, 8u) << style;
      EXPECT_EQ(stats.skipped, 0u) << style;
    }
    // The card's held-out bits/note, within 0.02.
    ASSERT_FALSE(card.at("heldout").empty());
    for (const auto& h : card.at("heldout")) {
      const std::string style = h.value("style", "");
      std::vector<pl::CorpusMelody> mel =
          pl::load_corpus({(dir / h.at("data").get<std::string>()).string()}, 0, model.vocab.kind())
              .melodies();
      ASSERT_FALSE(mel.empty()) << h.dump();
      for (auto& m : mel) m.style = style;
      const double bits = pl::score_network(net, model.vocab, mel).bits_per_note();
      EXPECT_NEAR(bits, h.at("bits_per_note").get<double>(), 0.02) << h.dump();
    }
  }
}
#endif
