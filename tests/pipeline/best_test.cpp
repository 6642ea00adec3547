// tests/pipeline/best_test.cpp: issue 15's best checkpoint, early stopping and the
// regularisation / schedule flags of `melodl train`: best.safetensors holds the epoch with the
// lowest validation bits/note (not the last one when validation rises), --patience ends a run
// and counts on across a resume, the files agree after a run killed before its best was
// written, compose and eval pick the best by default, the flags reach the trainer and
// survive a resume, and bad values are refused naming the flag.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lstm/checkpoint.h"
#include "pipeline/playback.h"
#include "pipeline/run_config.h"
#include "pipeline/training.h"
#include "tests/pipeline/train_test_util.h"

namespace pl = melodl::pipeline;
namespace fs = std::filesystem;
using melodl::train_test::make_entries;
using melodl::train_test::run_command;
using melodl::train_test::temp_dir;

namespace {

// A small network with a high learning rate on a few toy melodies: it over-fits within a few
// epochs, so its validation bits/note fall, then rise.
pl::TrainSettings overfitting(int epochs, int patience = 0) {
  pl::TrainSettings s;
  s.network = {.vocab = 0, .layers = 1, .hidden = 48};
  s.execution.threads = 1;
  s.train.optimizer.lr = 0.03f;
  s.train.tbptt_fwd = s.train.tbptt_bwd = 20;
  s.batch = 2;
  s.window = 40;
  s.epochs = epochs;
  s.patience = patience;
  s.samples_per_epoch = 0;  // only the validation matters here
  s.seed = 7;
  return s;
}

struct ToyData {
  pl::Split split;
  pl::Vocabulary vocab;
};

ToyData toy_data() {
  const auto corpus = pl::Corpus::from_entries(make_entries(5, 5, 11));
  return {corpus.split_by_source(0.2, 2), pl::Vocabulary::from_melodies(corpus.melodies())};
}

pl::RunState state_of(const fs::path& checkpoint) {
  return pl::RunState::from_json(melodl::lstm::load_checkpoint(checkpoint).extra.at("run_state"));
}

std::vector<float> weights_of(const fs::path& checkpoint) {
  return melodl::lstm::load_checkpoint(checkpoint).params;
}

bool same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string curve(const pl::RunState& st) {
  std::string s = "validation bits/note:";
  for (const auto& m : st.history) {
    s += ' ';
    s += std::to_string(m.valid_bits_per_note);
  }
  return s;
}

// The epoch (1-based) with the lowest validation bits/note.
int lowest_epoch(const pl::RunState& st) {
  const auto it = std::min_element(st.history.begin(), st.history.end(),
                                   [](const pl::EpochMetrics& a, const pl::EpochMetrics& b) {
                                     return a.valid_bits_per_note < b.valid_bits_per_note;
                                   });
  return it->epoch;
}

}  // namespace

TEST(BestCheckpoint, DiffersFromLatestWhenValidationRises) {
  const ToyData d = toy_data();
  const auto dir = temp_dir("best-rises");
  // Long enough that the tiny model overfits the toy data under any rounding (the curve
  // of a run bottoms out well before its end on the builds tried: AVX2 and AVX-512).
  constexpr int kEpochs = 24;
  pl::TrainingRun run(dir, overfitting(kEpochs), d.split, d.vocab);
  std::atomic<bool> never{false};
  ASSERT_EQ(run.run(never, {}), pl::RunEnd::finished);
  const pl::RunState& st = run.state();
  ASSERT_EQ(st.history.size(), static_cast<std::size_t>(kEpochs));
  // The construction works: validation rose after its lowest point.
  ASSERT_LT(st.best_epoch, kEpochs) << curve(st);
  EXPECT_EQ(st.best_epoch, lowest_epoch(st)) << curve(st);
  EXPECT_EQ(st.best_bits_per_note, st.history[st.best_epoch - 1].valid_bits_per_note);
  EXPECT_EQ(st.validations_since_best, kEpochs - st.best_epoch);
  EXPECT_FALSE(st.stopped_early);
  ASSERT_EQ(run.best_checkpoint(), pl::best_checkpoint_path(dir));
  const pl::RunState best = state_of(run.best_checkpoint());
  EXPECT_EQ(best.best_epoch, st.best_epoch);
  EXPECT_EQ(best.history.size(), static_cast<std::size_t>(st.best_epoch));
  EXPECT_FALSE(same(weights_of(run.best_checkpoint()), weights_of(run.latest_checkpoint())));
  // The best's weights score what its epoch scored.
  const auto net = melodl::lstm::load_checkpoint(run.best_checkpoint()).make_network();
  EXPECT_NEAR(pl::score_network(net, d.vocab, d.split.valid).bits_per_note(), st.best_bits_per_note,
              1e-9);
  // Resolving: the run directory gives the best by default, the latest on request; resume
  // never considers best.safetensors.
  EXPECT_EQ(pl::resolve_checkpoint(dir), run.best_checkpoint());
  EXPECT_EQ(pl::resolve_checkpoint(dir, nullptr, pl::CheckpointChoice::latest),
            run.latest_checkpoint());
  EXPECT_EQ(pl::find_good_checkpoint(dir), run.latest_checkpoint());
  // A new run refuses a directory that still has a best.safetensors.
  fs::remove_all(dir / "checkpoints");
  EXPECT_THROW(pl::TrainingRun(dir, overfitting(1), d.split, d.vocab), melodl::InvalidArgument);
}

TEST(BestCheckpoint, PatienceStopsTheRunAndResumeCountsOn) {
  const ToyData d = toy_data();
  std::atomic<bool> never{false};
  const auto whole = temp_dir("patience-whole");
  pl::TrainingRun a(whole, overfitting(40, 2), d.split, d.vocab);
  std::vector<std::string> logs;
  pl::TrainCallbacks cb;
  cb.log = [&](const std::string& m) { logs.push_back(m); };
  ASSERT_EQ(a.run(never, cb), pl::RunEnd::finished);
  const pl::RunState& sa = a.state();
  EXPECT_TRUE(sa.stopped_early) << curve(sa);
  ASSERT_EQ(sa.history.size(), static_cast<std::size_t>(sa.best_epoch + 2)) << curve(sa);
  EXPECT_LT(sa.history.size(), 40u);
  ASSERT_FALSE(logs.empty());
  EXPECT_NE(logs.back().find("no new best in the last 2 validations"), std::string::npos)
      << logs.back();
  EXPECT_NE(logs.back().find("epoch " + std::to_string(sa.best_epoch)), std::string::npos)
      << logs.back();
  // Resumed without a larger --patience, the stopped run stays finished.
  {
    auto again = pl::TrainingRun::resume(whole, overfitting(40, 2), d.split);
    ASSERT_EQ(again.run(never, {}), pl::RunEnd::finished);
    EXPECT_EQ(again.state().history.size(), sa.history.size());
  }

  // The same run stopped one validation after its best, then resumed: it counts that
  // validation and stops at the same epoch with the same best.
  const auto split_run = temp_dir("patience-resumed");
  {
    pl::TrainingRun b(split_run, overfitting(sa.best_epoch + 1, 2), d.split, d.vocab);
    ASSERT_EQ(b.run(never, {}), pl::RunEnd::finished);
    ASSERT_EQ(b.state().validations_since_best, 1);
  }
  auto b = pl::TrainingRun::resume(split_run, overfitting(40, 2), d.split);
  EXPECT_EQ(b.state().validations_since_best, 1);
  ASSERT_EQ(b.run(never, {}), pl::RunEnd::finished);
  EXPECT_TRUE(b.state().stopped_early);
  EXPECT_EQ(b.state().history.size(), sa.history.size());
  EXPECT_EQ(b.state().best_epoch, sa.best_epoch);
  EXPECT_TRUE(same(weights_of(b.best_checkpoint()), weights_of(a.best_checkpoint())));

  // A larger --patience on resume lets the stopped run go on.
  auto c = pl::TrainingRun::resume(whole, overfitting(40, 3), d.split);
  ASSERT_EQ(c.run(never, {}), pl::RunEnd::finished);
  EXPECT_GT(c.state().history.size(), sa.history.size());
}

// A run killed after a new best's checkpoint and `latest`, before best.safetensors: resume
// writes it from the checkpoint it continues from. A best.safetensors from epochs after the
// checkpoint resumed from is removed.
TEST(BestCheckpoint, ResumeMakesBestAgreeWithTheRunState) {
  const ToyData d = toy_data();
  const auto dir = temp_dir("best-reconcile");
  std::atomic<bool> never{false};
  {
    pl::TrainingRun run(dir, overfitting(1), d.split, d.vocab);
    ASSERT_EQ(run.run(never, {}), pl::RunEnd::finished);
    ASSERT_EQ(run.state().best_epoch, 1);
  }
  const fs::path best = pl::best_checkpoint_path(dir);
  const auto weights = weights_of(best);
  fs::remove(best);
  std::vector<std::string> logs;
  pl::TrainCallbacks cb;
  cb.log = [&](const std::string& m) { logs.push_back(m); };
  {
    auto resumed = pl::TrainingRun::resume(dir, overfitting(1), d.split);
    ASSERT_TRUE(fs::exists(best));
    EXPECT_TRUE(same(weights_of(best), weights));
    resumed.run(never, cb);
  }
  ASSERT_FALSE(logs.empty());
  EXPECT_NE(logs[0].find("not written"), std::string::npos) << logs[0];

  // The first checkpoint (before any validation) as best.safetensors: it does not match.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir / "checkpoints"))
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  fs::copy_file(files.front(), best, fs::copy_options::overwrite_existing);
  auto resumed = pl::TrainingRun::resume(dir, overfitting(1), d.split);
  EXPECT_TRUE(same(weights_of(best), weights)) << "rewritten from the epoch-1 checkpoint";
}

TEST(TrainFlags, PlateauReducesTheRateAndKeepsTheBaseRate) {
  const ToyData d = toy_data();
  const auto dir = temp_dir("plateau");
  auto s = overfitting(10);
  s.train.schedule.kind = melodl::lstm::LrScheduleKind::plateau;
  s.train.schedule.min_lr = 1e-4f;
  s.train.schedule.patience = 1;
  pl::TrainingRun run(dir, s, d.split, d.vocab);
  std::vector<std::string> logs;
  pl::TrainCallbacks cb;
  cb.log = [&](const std::string& m) { logs.push_back(m); };
  std::atomic<bool> never{false};
  ASSERT_EQ(run.run(never, cb), pl::RunEnd::finished);
  EXPECT_FLOAT_EQ(static_cast<float>(run.state().lr), 0.03f) << "the run state keeps the base";
  EXPECT_LT(run.state().history.back().lr, 0.03 * 0.6) << curve(run.state());
  const bool logged = std::any_of(logs.begin(), logs.end(), [](const std::string& m) {
    return m.find("learning rate reduced to") != std::string::npos;
  });
  EXPECT_TRUE(logged);
}

// With dropout, weight decay, a warm-up and the plateau schedule on, a run interrupted in
// the middle of an epoch and resumed ends bitwise as the uninterrupted one (1 thread): the
// same weights, best epoch and rates.
TEST(TrainFlags, InterruptedRunWithRegularisationResumesBitwise) {
  const ToyData d = toy_data();
  auto s = overfitting(6);
  s.checkpoint_every_s = 0;
  s.train.dropout.output = 0.2f;
  s.train.dropout.recurrent = 0.1f;
  s.train.optimizer.weight_decay = 0.01f;
  s.train.schedule.kind = melodl::lstm::LrScheduleKind::plateau;
  s.train.schedule.warmup_steps = 10;
  s.train.schedule.min_lr = 1e-4f;
  s.train.schedule.patience = 1;
  std::atomic<bool> never{false};
  const auto whole = temp_dir("reg-whole"), parts = temp_dir("reg-parts");
  pl::TrainingRun a(whole, s, d.split, d.vocab);
  ASSERT_EQ(a.run(never, {}), pl::RunEnd::finished);
  std::atomic<bool> stop{false};
  std::size_t batches = 0;
  pl::TrainCallbacks cb;
  cb.progress = [&](const pl::ProgressInfo&) { stop = ++batches == 17; };
  {
    pl::TrainingRun b(parts, s, d.split, d.vocab);
    ASSERT_EQ(b.run(stop, cb), pl::RunEnd::interrupted);
  }
  auto b = pl::TrainingRun::resume(parts, s, d.split);
  ASSERT_EQ(b.run(never, {}), pl::RunEnd::finished);
  EXPECT_TRUE(same(weights_of(a.latest_checkpoint()), weights_of(b.latest_checkpoint())));
  EXPECT_TRUE(same(weights_of(a.best_checkpoint()), weights_of(b.best_checkpoint())));
  EXPECT_EQ(a.state().best_epoch, b.state().best_epoch);
  ASSERT_EQ(a.state().history.size(), b.state().history.size());
  for (std::size_t e = 0; e < a.state().history.size(); ++e) {
    EXPECT_EQ(a.state().history[e].valid_bits_per_note, b.state().history[e].valid_bits_per_note);
    EXPECT_EQ(a.state().history[e].lr, b.state().history[e].lr);
  }
}

// The commands: `melodl train`'s flags and summary, compose and eval on a run directory.
#ifdef MELODL_EXE
namespace {

const std::string kMelodl = MELODL_EXE;

// A melodies file of toy melodies (their sources src-<k>.mid, for the split by file).
fs::path toy_melodies_file(const fs::path& dir) {
  std::vector<pl::GeneratedLine> lines;
  for (const auto& e : make_entries(5, 5, 11)) lines.push_back({e.text, e.source, 0, 60});
  const fs::path p = dir / "toy.txt";
  std::ofstream(p) << pl::generated_lines_file(pl::LineKind::melody, lines);
  return p;
}

const char* kOverfitFlags =
    " --layers 1 --hidden 48 --lr 0.03 --window 40 --tbptt 20 --batch 2 --threads 1 --seed 7"
    " --valid-fraction 0.2 --samples-per-epoch 0";

}  // namespace

TEST(BestCheckpoint, ComposeAndEvalUseTheBestUnlessToldOtherwise) {
  const auto dir = temp_dir("best-cli");
  const fs::path data = toy_melodies_file(dir), run = dir / "run";
  // Without the default regularisation, so that it over-fits.
  const auto t = run_command(kMelodl + " train " + data.string() + kOverfitFlags +
                             " --dropout 0 --recurrent-dropout 0 --weight-decay 0"
                             " --lr-schedule constant --patience 0 --epochs 10 --run-dir " +
                             run.string());
  ASSERT_EQ(t.code, 0) << t.output;
  std::ifstream in(run / "manifest.json");
  const auto m = nlohmann::json::parse(in);
  const int best = m["best"]["epoch"].get<int>();
  ASSERT_LT(best, 10) << t.output;  // validation rose after the best epoch
  EXPECT_EQ(m["best"]["checkpoint"], "best.safetensors");
  EXPECT_EQ(m["best"]["valid_bits_per_note"], m["epochs"][best - 1]["valid_bits_per_note"]);
  EXPECT_NE(t.output.find("best: epoch " + std::to_string(best) + " of 10"), std::string::npos)
      << t.output;
  const auto c =
      run_command(kMelodl + " compose " + run.string() + " --count 2 -o " + (dir / "out").string());
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find((run / "best.safetensors").string()), std::string::npos) << c.output;
  const auto cl = run_command(kMelodl + " compose " + run.string() +
                              " --checkpoint latest --count 2 -o " + (dir / "out2").string());
  ASSERT_EQ(cl.code, 0) << cl.output;
  EXPECT_NE(cl.output.find((run / "checkpoints" / "ckpt-").string()), std::string::npos)
      << cl.output;
  const auto eval = [&](const std::string& extra) {
    const auto e = run_command(kMelodl + " eval " + run.string() + " --data " + data.string() +
                               " --valid-fraction 0.2 --seed 7 --samples 2 --json" + extra);
    EXPECT_EQ(e.code, 0) << e.output;
    return nlohmann::json::parse(e.output);
  };
  const auto eb = eval(""), el = eval(" --checkpoint latest");
  EXPECT_EQ(eb["checkpoint"], (run / "best.safetensors").string());
  EXPECT_NE(el["checkpoint"], eb["checkpoint"]);
  EXPECT_LT(eb["model"]["bits_per_note"].get<double>(), el["model"]["bits_per_note"].get<double>());
  EXPECT_EQ(run_command(kMelodl + " compose " + run.string() + " --checkpoint newest").code, 2);
}

// --average: validation scores the averaged weights and best.safetensors holds them (eval of
// the run reproduces the best epoch's validation); the checkpoints keep the raw weights with
// the average as an optimiser slot, and config.json records the option.
TEST(BestCheckpoint, WeightAveragingScoresAndKeepsTheAveragedWeights) {
  const auto dir = temp_dir("best-average");
  const fs::path data = toy_melodies_file(dir), run = dir / "run";
  std::string flags = kOverfitFlags;  // a lower rate: the curve falls for the 3 epochs
  flags.replace(flags.find(" --lr 0.03"), 10, " --lr 0.01");
  const auto t = run_command(kMelodl + " train -q " + data.string() + flags +
                             " --lr-schedule constant --patience 0 --epochs 3 --average 0.9"
                             " --run-dir " +
                             run.string());
  ASSERT_EQ(t.code, 0) << t.output;
  std::ifstream in(run / "config.json");
  EXPECT_FLOAT_EQ(nlohmann::json::parse(in)["train"]["average"].get<float>(), 0.9f);
  const fs::path last = pl::find_good_checkpoint(run);
  const auto ck = melodl::lstm::load_checkpoint(last);
  ASSERT_TRUE(ck.train_config.has_value());
  EXPECT_FLOAT_EQ(ck.train_config->optimizer.average, 0.9f);
  ASSERT_EQ(melodl::lstm::Optimizer(ck.train_config->optimizer, 0).slot_names().back(), "average");
  const std::vector<float>& averaged = ck.optimizer_slots.back();
  ASSERT_EQ(averaged.size(), ck.params.size());
  EXPECT_FALSE(same(averaged, ck.params)) << "the checkpoint's weights are the raw ones";
  const pl::RunState st = state_of(last);
  ASSERT_EQ(st.history.size(), 3u);
  ASSERT_EQ(st.best_epoch, 3) << curve(st) << "\n(the test expects a falling curve)";
  const auto best = melodl::lstm::load_checkpoint(run / "best.safetensors");
  EXPECT_TRUE(same(best.params, averaged)) << "best.safetensors holds the averaged weights";
  EXPECT_FALSE(best.train_config.has_value()) << "weights only";
  EXPECT_EQ(pl::RunState::from_json(best.extra.at("run_state")).best_epoch, 3);
  const auto e = run_command(kMelodl + " eval " + run.string() + " --data " + data.string() +
                             " --valid-fraction 0.2 --seed 7 --samples 2 --json");
  ASSERT_EQ(e.code, 0) << e.output;
  const auto j = nlohmann::json::parse(e.output);
  EXPECT_EQ(j["checkpoint"], (run / "best.safetensors").string());
  EXPECT_NEAR(j["model"]["bits_per_note"].get<double>(), st.best_bits_per_note, 1e-6);
  // Fixed when the run starts.
  const auto refused =
      run_command(kMelodl + " train -q --resume " + run.string() + " --epochs 4 --average 0.99");
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--average"), std::string::npos) << refused.output;
}

TEST(TrainFlags, ReachTheTrainerAndSurviveResume) {
  const auto dir = temp_dir("reg-flags");
  const fs::path data = toy_melodies_file(dir), run = dir / "run";
  const auto t = run_command(kMelodl + " train -q " + data.string() + kOverfitFlags +
                             " --epochs 2 --dropout 0.25 --variational-dropout"
                             " --recurrent-dropout 0.1 --weight-decay 0.01 --lr-schedule cosine"
                             " --warmup 5 --decay-steps 400 --min-lr 0.001 --patience 4"
                             " --run-dir " +
                             run.string());
  ASSERT_EQ(t.code, 0) << t.output;
  const auto check = [&](const melodl::lstm::TrainConfig& c, const std::string& where) {
    EXPECT_FLOAT_EQ(c.dropout.output, 0.25f) << where;
    EXPECT_TRUE(c.dropout.variational) << where;
    EXPECT_FLOAT_EQ(c.dropout.recurrent, 0.1f) << where;
    EXPECT_FLOAT_EQ(c.optimizer.weight_decay, 0.01f) << where;
    EXPECT_EQ(c.schedule.kind, melodl::lstm::LrScheduleKind::cosine) << where;
    EXPECT_EQ(c.schedule.warmup_steps, 5) << where;
    EXPECT_EQ(c.schedule.decay_steps, 400) << where;
    EXPECT_FLOAT_EQ(c.schedule.min_lr, 0.001f) << where;
    EXPECT_FLOAT_EQ(c.optimizer.lr, 0.03f) << where << ": the base rate";
  };
  const pl::RunConfig stored = pl::read_run_config(run);
  check(stored.settings.train, "config.json");
  EXPECT_EQ(stored.settings.patience, 4);
  const auto first = pl::find_good_checkpoint(run);
  check(*melodl::lstm::load_checkpoint(first).train_config, first.string());
  // The epochs ran on the cosine schedule: their rate fell below the base rate.
  const pl::RunState st = state_of(first);
  EXPECT_LT(st.history.back().lr, 0.03 * 0.999);
  EXPECT_FLOAT_EQ(static_cast<float>(st.lr), 0.03f);
  // Resumed: the flags fixed at the start are refused, --patience may change, the trainer
  // keeps its options.
  const auto refused =
      run_command(kMelodl + " train -q --resume " + run.string() + " --epochs 3 --dropout 0.5");
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--dropout"), std::string::npos) << refused.output;
  const auto r =
      run_command(kMelodl + " train -q --resume " + run.string() + " --epochs 3 --patience 6");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto last = pl::find_good_checkpoint(run);
  check(*melodl::lstm::load_checkpoint(last).train_config, last.string());
  EXPECT_EQ(state_of(last).history.size(), 3u);
  EXPECT_EQ(pl::read_run_config(run).settings.patience, 4) << "config.json is the start's";
  // Without the flags a melody run takes the defaults of the 15-minute sweep; a --preset
  // trains as the original did (none of the keys in config.json); without validation data
  // the defaults that need validations are off (and the run is not refused for them).
  const auto config_of = [&](const std::string& name, const std::string& flags) {
    std::string base = kOverfitFlags;
    if (flags.find("--valid-fraction") != std::string::npos)  // replaces the 0.2
      base.replace(base.find(" --valid-fraction 0.2"), 21, "");
    const auto r = run_command(kMelodl + " train -q " + data.string() + base + " --epochs 1" +
                               flags + " --run-dir " + (dir / name).string());
    EXPECT_EQ(r.code, 0) << flags << "\n" << r.output;
    std::ifstream in(dir / name / "config.json");
    return nlohmann::json::parse(in);
  };
  const auto plain = config_of("plain", "");
  EXPECT_EQ(plain["patience"], 10);
  EXPECT_FLOAT_EQ(plain["train"]["dropout"]["output"].get<float>(), 0.5f);
  EXPECT_FLOAT_EQ(plain["train"]["dropout"]["recurrent"].get<float>(), 0.25f);
  EXPECT_FLOAT_EQ(plain["train"]["weight_decay"].get<float>(), 0.01f);
  EXPECT_EQ(plain["train"]["schedule"]["kind"], "plateau");
  const auto preset = config_of("preset", " --preset melodl4j");
  EXPECT_FALSE(preset.contains("patience"));
  for (const char* key : {"dropout", "weight_decay", "schedule"})
    EXPECT_FALSE(preset["train"].contains(key)) << key;
  const auto unsplit = config_of("unsplit", " --valid-fraction 0");
  EXPECT_FALSE(unsplit.contains("patience"));
  EXPECT_FALSE(unsplit["train"].contains("schedule"));
  EXPECT_FLOAT_EQ(unsplit["train"]["dropout"]["output"].get<float>(), 0.5f);
  // One source file: the split leaves no validation data, so the same holds.
  std::vector<pl::GeneratedLine> lines;
  for (const auto& e : make_entries(1, 6, 11)) lines.push_back({e.text, e.source, 0, 60});
  const fs::path one = dir / "one.txt";
  std::ofstream(one) << pl::generated_lines_file(pl::LineKind::melody, lines);
  const auto o = run_command(kMelodl + " train -q " + one.string() + kOverfitFlags +
                             " --epochs 1 --run-dir " + (dir / "one").string());
  ASSERT_EQ(o.code, 0) << o.output;
  std::ifstream in(dir / "one" / "config.json");
  const auto single = nlohmann::json::parse(in);
  EXPECT_FALSE(single.contains("patience"));
  EXPECT_FALSE(single["train"].contains("schedule"));
}

TEST(TrainFlags, BadValuesAreRefusedNamingTheFlag) {
  const auto dir = temp_dir("reg-bad");
  const fs::path data = toy_melodies_file(dir);
  const std::string base = kMelodl + " train -q " + data.string() + kOverfitFlags +
                           " --epochs 1 --run-dir " + (dir / "r").string();
  const std::pair<const char*, const char*> cases[] = {
      {" --dropout 1.5", "--dropout"},
      {" --dropout nan", "--dropout"},
      {" --recurrent-dropout -0.1", "--recurrent-dropout"},
      {" --weight-decay 2", "--weight-decay"},
      {" --average 1", "--average"},
      {" --average -0.5", "--average"},
      {" --lr-schedule linear", "--lr-schedule"},
      {" --lr-schedule cosine", "--decay-steps"},
      {" --decay-steps 100", "--decay-steps"},
      {" --lr-schedule cosine --decay-steps 0", "--decay-steps"},
      {" --lr-schedule cosine --decay-steps 10 --min-lr 0.5", "--min-lr"},
      {" --lr-schedule constant --min-lr 0.001", "--min-lr"},
      {" --lr-schedule constant --lr-factor 0.3", "--lr-factor"},
      {" --lr-schedule plateau --lr-factor 1", "--lr-factor"},
      {" --lr-patience 0", "--lr-patience"},
      {" --dropout 0 --variational-dropout", "--variational-dropout"},
      {" --warmup -1", "--warmup"},
      {" --patience -2", "--patience"},
  };
  for (const auto& [flags, name] : cases) {
    const auto r = run_command(base + flags);
    EXPECT_EQ(r.code, 2) << flags << "\n" << r.output;
    EXPECT_NE(r.output.find(name), std::string::npos) << flags << "\n" << r.output;
    EXPECT_FALSE(fs::exists(dir / "r" / "checkpoints")) << flags;
  }
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    return s.replace(s.find(from), from.size(), to);
  };
  // --lr x --weight-decay must stay below 1.
  const auto wd = run_command(replaced(" --lr 0.03", " --lr 2") + " --weight-decay 0.9");
  EXPECT_EQ(wd.code, 2) << wd.output;
  EXPECT_NE(wd.output.find("--weight-decay 0.9: --lr x --weight-decay"), std::string::npos)
      << wd.output;
  // Validation data needed by --patience and the plateau schedule.
  for (const char* flags : {" --patience 2", " --lr-schedule plateau"}) {
    const auto r = run_command(replaced(" --valid-fraction 0.2", " --valid-fraction 0") + flags);
    EXPECT_NE(r.code, 0) << flags;
    EXPECT_NE(r.output.find("needs validation data"), std::string::npos) << flags << r.output;
  }
}

#endif  // MELODL_EXE
