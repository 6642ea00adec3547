// tests/pipeline/style_test.cpp: style conditioning (docs/training.md "Style conditioning"):
// the vocabulary's style symbols and their stored form, composing and scoring with a style,
// config.json's styled inputs, and `melodl train --style NAME=PATH` / `compose --style` /
// `eval --style` end to end.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "lstm/network.h"
#include "pipeline/composing.h"
#include "pipeline/corpus.h"
#include "pipeline/playback.h"
#include "pipeline/run_config.h"
#include "tests/pipeline/train_test_util.h"

namespace pl = melodl::pipeline;
namespace fs = std::filesystem;
using melodl::train_test::make_entries;
using melodl::train_test::melodies_file;
using melodl::train_test::run_command;
using melodl::train_test::temp_dir;

namespace {

melodl::lstm::Network untrained(int vocab, std::uint64_t seed) {
  melodl::lstm::NetworkConfig cfg;
  cfg.vocab = vocab;
  cfg.layers = 1;
  cfg.hidden = 16;
  cfg.seed = seed;
  melodl::lstm::ExecutionOptions one_thread;
  one_thread.threads = 1;
  melodl::lstm::Network net(cfg, one_thread);
  for (float& w : net.params()) w *= 4.0f;  // confidently wrong
  return net;
}

bool throws_with(const std::function<void()>& f, const std::string& part) {
  try {
    f();
  } catch (const melodl::InvalidArgument& e) {
    return std::string(e.what()).find(part) != std::string::npos;
  }
  return false;
}

}  // namespace

TEST(StyleVocabulary, StoredFormRoundTripsAndUnstyledStaysAsBefore) {
  const pl::Vocabulary plain = pl::Vocabulary::full();
  EXPECT_EQ(plain.stored(), plain.chars());  // unstyled checkpoints are as before
  EXPECT_TRUE(pl::Vocabulary::parse(plain.stored()).styles().empty());
  EXPECT_EQ(pl::Vocabulary::parse(plain.stored()).size(), plain.size());

  const pl::Vocabulary styled = plain.with_styles({"bach", "mozart-k1_2"});
  EXPECT_EQ(styled.stored(), plain.chars() + "\nstyles=bach,mozart-k1_2");
  EXPECT_EQ(styled.size(), plain.size() + 2);
  EXPECT_EQ(styled.chars(), plain.chars());
  const pl::Vocabulary back = pl::Vocabulary::parse(styled.stored());
  EXPECT_EQ(back.chars(), plain.chars());
  EXPECT_EQ(back.styles(), (std::vector<std::string>{"bach", "mozart-k1_2"}));
  EXPECT_EQ(back.size(), styled.size());
  EXPECT_EQ(back.stored(), styled.stored());
  EXPECT_EQ(back.kind(), pl::LineKind::melody);

  const pl::Vocabulary duets = pl::Vocabulary::full(pl::LineKind::harmony).with_styles({"x"});
  const pl::Vocabulary duets_back = pl::Vocabulary::parse(duets.stored());
  EXPECT_EQ(duets_back.kind(), pl::LineKind::harmony);
  EXPECT_EQ(duets_back.styles(), std::vector<std::string>{"x"});
  EXPECT_EQ(duets_back.chars(), duets.chars());
}

TEST(StyleVocabulary, IdsPutTheStyleSymbolRightAfterTheStart) {
  const pl::Vocabulary v = pl::Vocabulary::full().with_styles({"bach", "mozart"});
  const int chars = static_cast<int>(v.chars().size());
  EXPECT_EQ(v.style_id("bach"), chars);
  EXPECT_EQ(v.style_id("mozart"), chars + 1);
  EXPECT_EQ(v.style_id("haydn"), -1);
  EXPECT_EQ(v.start_id(), chars - 2);  // the markers keep their ids
  EXPECT_EQ(v.end_id(), chars - 1);
  EXPECT_TRUE(v.is_style(chars + 1));
  EXPECT_FALSE(v.is_style(v.end_id()));
  EXPECT_EQ(v.grammar_index(chars), -1);

  const std::string line = make_entries(1, 1).front().text;
  const auto plain = v.ids(line);
  const auto tagged = v.ids(line, "mozart");
  ASSERT_EQ(tagged.size(), plain.size() + 1);
  EXPECT_EQ(tagged[0], v.start_id());
  EXPECT_EQ(tagged[1], v.style_id("mozart"));
  EXPECT_TRUE(std::equal(plain.begin() + 1, plain.end(), tagged.begin() + 2));
  EXPECT_EQ(v.ids(line, ""), plain);
  EXPECT_TRUE(throws_with([&] { (void)v.ids(line, "haydn"); }, "bach, mozart"));
  EXPECT_TRUE(throws_with([&] { (void)v.ids(line.substr(1), "bach"); }, "'<'"));
  EXPECT_TRUE(throws_with([&] { (void)pl::Vocabulary::full().ids(line, "bach"); }, "no styles"));
}

TEST(StyleVocabulary, RejectsBadAndDuplicateNames) {
  const pl::Vocabulary v = pl::Vocabulary::full();
  for (const char* bad : {"", "Bach", "a b", "a,b", "x=y", "caf\xc3\xa9"})
    EXPECT_TRUE(throws_with([&] { (void)v.with_styles({"ok", bad}); }, "style name")) << bad;
  EXPECT_TRUE(throws_with([&] { (void)v.with_styles({"bach", "mozart", "bach"}); }, "twice"));
  EXPECT_TRUE(throws_with([&] { (void)pl::Vocabulary::parse(v.chars() + "\nstyles="); }, "style"));
  EXPECT_TRUE(
      throws_with([&] { (void)pl::Vocabulary::parse(v.chars() + "\nstyles=a,a"); }, "twice"));
  EXPECT_NO_THROW((void)v.with_styles({"a", "b-2", "c_3"}));
}

TEST(StyleVocabulary, CheckStyleRequiresOneOfAStyledModelsStylesAndNoneOtherwise) {
  const pl::Vocabulary plain = pl::Vocabulary::full();
  const pl::Vocabulary styled = plain.with_styles({"bach", "mozart"});
  EXPECT_NO_THROW(plain.check_style(""));
  EXPECT_TRUE(throws_with([&] { plain.check_style("bach"); }, "no styles"));
  EXPECT_TRUE(throws_with([&] { styled.check_style(""); }, "bach, mozart"));
  EXPECT_TRUE(throws_with([&] { styled.check_style("haydn"); }, "bach, mozart"));
  EXPECT_NO_THROW(styled.check_style("mozart"));
}

// The network's output bias pushes the style symbols far above every other: only the mask
// keeps them out, in constrained and unconstrained sampling alike.
TEST(StyleCompose, NeverDrawsAStyleSymbol) {
  const pl::Vocabulary vocab = pl::Vocabulary::full().with_styles({"bach", "mozart"});
  auto net = untrained(vocab.size(), 3);
  const auto& layout = net.layout();
  for (const std::string& s : vocab.styles())
    net.params()[layout.by + static_cast<std::size_t>(vocab.style_id(s))] = 50.0f;
  for (const bool constrained : {true, false}) {
    pl::ComposeOptions o;
    o.count = 16;
    o.length = 80;
    o.seed = 5;
    o.style = "mozart";
    o.constrained = constrained;
    const auto pieces = pl::compose(net, vocab, o);
    ASSERT_EQ(pieces.size(), 16u);
    for (const auto& p : pieces) {
      ASSERT_FALSE(p.text.empty());
      EXPECT_EQ(p.text.front(), '<');
      for (char c : p.text) EXPECT_GE(vocab.id(c), 0) << p.text;  // only music symbols
      EXPECT_EQ(p.text.find("mozart"), std::string::npos);
      if (constrained) {
        EXPECT_EQ(p.decoded.skipped, 0u) << p.text;
      }
    }
  }
}

TEST(StyleCompose, TheStyleConditionsTheSamplesAndIsRequired) {
  const pl::Vocabulary vocab = pl::Vocabulary::full().with_styles({"bach", "mozart"});
  const auto net = untrained(vocab.size(), 4);
  pl::ComposeOptions o;
  o.count = 8;
  o.length = 60;
  o.seed = 9;
  EXPECT_TRUE(throws_with([&] { (void)pl::compose(net, vocab, o); }, "bach, mozart"));
  o.style = "haydn";
  EXPECT_TRUE(throws_with([&] { (void)pl::compose(net, vocab, o); }, "bach, mozart"));
  std::vector<std::string> texts[2];
  for (int k = 0; k < 2; ++k) {
    o.style = vocab.styles()[static_cast<std::size_t>(k)];
    for (const auto& p : pl::compose(net, vocab, o)) texts[k].push_back(p.text);
  }
  EXPECT_NE(texts[0], texts[1]);  // same seed, another style symbol fed after '<'
  o.style = "bach";
  std::vector<std::string> again;
  for (const auto& p : pl::compose(net, vocab, o)) again.push_back(p.text);
  EXPECT_EQ(again, texts[0]);

  // An unstyled model takes no style.
  const pl::Vocabulary plain = pl::Vocabulary::full();
  const auto plain_net = untrained(plain.size(), 4);
  EXPECT_TRUE(throws_with([&] { (void)pl::compose(plain_net, plain, o); }, "no styles"));
}

TEST(StyleCompose, ScoringGivesTheStyleAndPredictsOnlyMusicSymbols) {
  const pl::Vocabulary vocab = pl::Vocabulary::full().with_styles({"bach", "mozart"});
  const auto net = untrained(vocab.size(), 6);
  std::vector<pl::CorpusMelody> mels;
  for (const auto& e : make_entries(1, 3)) {
    pl::CorpusMelody m;
    m.source = e.source;
    m.text = e.text;
    m.notes = 1;
    mels.push_back(m);
  }
  std::size_t symbols = 0;
  for (const auto& m : mels) symbols += m.text.size() - 1;
  for (auto& m : mels) m.style = "bach";
  const pl::ModelScore bach = pl::score_network(net, vocab, mels);
  EXPECT_EQ(bach.symbols, symbols);  // the style symbol is input, never a target
  for (auto& m : mels) m.style = "mozart";
  const pl::ModelScore mozart = pl::score_network(net, vocab, mels);
  EXPECT_EQ(mozart.symbols, symbols);
  EXPECT_NE(bach.bits, mozart.bits);
  EXPECT_GT(bach.bits, 0.0);
}

TEST(StyleRunConfig, ConfigJsonKeepsStyledInputsAndOmitsThemOtherwise) {
  pl::RunConfig c;
  c.inputs = {};
  c.styles = {{"bach", "/d/bach.txt"}, {"folk", "/d/folk"}, {"bach", "/d/more.txt"}};
  nlohmann::json j = c;
  ASSERT_TRUE(j.contains("styles"));
  const pl::RunConfig back = j.get<pl::RunConfig>();
  ASSERT_EQ(back.styles.size(), 3u);
  EXPECT_EQ(back.styles[1].name, "folk");
  EXPECT_EQ(back.styles[2].path, "/d/more.txt");
  EXPECT_EQ(pl::style_names(back.styles), (std::vector<std::string>{"bach", "folk"}));
  EXPECT_EQ(pl::input_paths(back).size(), 3u);

  pl::RunConfig plain;
  plain.inputs = {"/d/x.txt"};
  nlohmann::json jp = plain;
  EXPECT_FALSE(jp.contains("styles"));
  EXPECT_TRUE(jp.get<pl::RunConfig>().styles.empty());
}

#ifdef MELODL_EXE
namespace {

const std::string kMelodl = MELODL_EXE;

const char* kTinyFlags =
    " --layers 1 --hidden 16 --window 40 --tbptt 20 --batch 2 --threads 1 --seed 3"
    " --valid-fraction 0.25 --samples-per-epoch 1";

std::vector<std::string> checkpoint_styles(
    const fs::path& run, pl::CheckpointChoice which = pl::CheckpointChoice::best) {
  return pl::load_model(run, {}, which).vocab.styles();
}

}  // namespace

TEST(StyleCli, TrainTwoStylesComposeInEachEvalAndResume) {
  const auto dir = temp_dir("style-cli");
  const fs::path a = melodies_file(dir, "alpha", 1), b = melodies_file(dir, "beta", 2);
  const fs::path run = dir / "run";
  const auto t =
      run_command(kMelodl + " train --style alpha=" + a.string() + " --style beta=" + b.string() +
                  kTinyFlags + " --epochs 2 --run-dir " + run.string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find("styles: alpha, beta"), std::string::npos) << t.output;
  EXPECT_EQ(checkpoint_styles(run), (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(checkpoint_styles(run, pl::CheckpointChoice::latest).size(), 2u);
  EXPECT_TRUE(fs::exists(run / "best.safetensors"));
  {
    std::ifstream in(run / "config.json");
    const auto cfg = nlohmann::json::parse(in);
    ASSERT_TRUE(cfg.contains("styles")) << cfg.dump();
    EXPECT_EQ(cfg["styles"][0]["name"], "alpha");
    EXPECT_EQ(cfg["styles"][1]["path"], fs::absolute(b).lexically_normal().string());
  }

  for (const char* style : {"alpha", "beta"}) {
    const fs::path out = dir / (std::string("out-") + style);
    const auto c = run_command(kMelodl + " compose " + run.string() + " --style " + style +
                               " --count 3 -o " + out.string());
    ASSERT_EQ(c.code, 0) << c.output;
    EXPECT_NE(c.output.find(std::string("style ") + style), std::string::npos) << c.output;
    std::ifstream in(out / "compositions.txt");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find('<'), std::string::npos) << text;
    EXPECT_EQ(text.find("alpha"), std::string::npos) << text;
    EXPECT_EQ(text.find("beta"), std::string::npos) << text;
  }
  const auto none = run_command(kMelodl + " compose " + run.string() + " --count 1 -o " +
                                (dir / "none").string());
  EXPECT_EQ(none.code, 2) << none.output;
  EXPECT_NE(none.output.find("alpha, beta"), std::string::npos) << none.output;
  EXPECT_NE(none.output.find("--style"), std::string::npos) << none.output;
  const auto wrong = run_command(kMelodl + " compose " + run.string() +
                                 " --style gamma --count 1 -o " + (dir / "wrong").string());
  EXPECT_EQ(wrong.code, 2) << wrong.output;
  EXPECT_NE(wrong.output.find("alpha, beta"), std::string::npos) << wrong.output;

  const auto e = run_command(kMelodl + " eval " + run.string() + " --style beta --data " +
                             b.string() + " --valid-fraction 0.25 --seed 3 --samples 2 --json");
  ASSERT_EQ(e.code, 0) << e.output;
  const auto ej = nlohmann::json::parse(e.output);
  EXPECT_GT(ej["model"]["bits_per_note"].get<double>(), 0.0);
  const auto e_none =
      run_command(kMelodl + " eval " + run.string() + " --data " + b.string() + " --samples 1");
  EXPECT_EQ(e_none.code, 2) << e_none.output;
  EXPECT_NE(e_none.output.find("alpha, beta"), std::string::npos) << e_none.output;

  // Resume keeps the styles (from config.json and the checkpoint); --style is fixed.
  const auto r = run_command(kMelodl + " train -q --resume " + run.string() + " --epochs 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(checkpoint_styles(run, pl::CheckpointChoice::latest),
            (std::vector<std::string>{"alpha", "beta"}));
  const auto rs = run_command(kMelodl + " train --resume " + run.string() +
                              " --epochs 4 --style alpha=" + a.string());
  EXPECT_EQ(rs.code, 2) << rs.output;
}

TEST(StyleCli, BadStyleFlagsAreUsageErrorsAndUnstyledRunsTakeNoStyle) {
  const auto dir = temp_dir("style-bad");
  const fs::path a = melodies_file(dir, "alpha", 1);
  const std::string run = " --run-dir " + (dir / "r").string();
  for (const std::string& bad : std::vector<std::string>{
           " --style Alpha=" + a.string(), " --style alpha", " --style =" + a.string(),
           " --style a=" + a.string() + " --style a=" + a.string() + " --style b=" + a.string() +
               " " + a.string(),
           " --style a=" + a.string() + " --valid " + a.string()}) {
    const auto r = run_command(kMelodl + " train" + bad + kTinyFlags + " --epochs 1" + run);
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.output;
    EXPECT_NE(r.output.find("--"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(dir / "r" / "config.json")) << bad;
  }
  const fs::path plain = dir / "plain";
  const auto t = run_command(kMelodl + " train -q " + a.string() + kTinyFlags +
                             " --epochs 1 --run-dir " + plain.string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_TRUE(checkpoint_styles(plain).empty());
  {
    std::ifstream in(plain / "config.json");
    EXPECT_FALSE(nlohmann::json::parse(in).contains("styles"));
  }
  const auto c = run_command(kMelodl + " compose " + plain.string() + " --style alpha -o " +
                             (dir / "o").string());
  EXPECT_EQ(c.code, 2) << c.output;
  EXPECT_NE(c.output.find("no styles"), std::string::npos) << c.output;
  const auto ok =
      run_command(kMelodl + " compose " + plain.string() + " --count 2 -o " + (dir / "o").string());
  EXPECT_EQ(ok.code, 0) << ok.output;
}
#endif  // MELODL_EXE
