// tests/pipeline/run_config_test.cpp: a run directory's config.json (pipeline/run_config.h):
// a config written before the JSON moved to nlohmann's macros reads and writes back with the
// same keys and values (so old run directories still resume), older configs without "kind"
// read as melodies, damaged ones are named, and the presets fill only what the user left.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "base/error.h"
#include "pipeline/run_config.h"
#include "tests/pipeline/train_test_util.h"

namespace pl = melodl::pipeline;
namespace fs = std::filesystem;

namespace {

// config.json of `melodl train mel.txt --layers 1 --hidden 8 --epochs 1 --window 60
// --tbptt 20/10 --batch 4 --threads 1 --samples-per-epoch 1 --sample-length 40
// --temperature 0.9 --lr 0.003 --time-budget 1h`, written by melodl before this change.
const char* kStoredConfig = R"({
  "batch": 4,
  "checkpoint_every_s": 300.0,
  "epochs": 1,
  "inputs": [
    "/tmp/oldrun/mel.txt"
  ],
  "keep_checkpoints": 3,
  "kind": "melody",
  "network": {
    "cuda_graphs": false,
    "cuda_math": "tf32",
    "cuda_persistent": false,
    "cuda_wavefront": 0,
    "device": "cpu",
    "forget_bias_init": 1.0,
    "hidden": 8,
    "layers": 1,
    "peepholes": true,
    "seed": 12346,
    "threads": 1,
    "vocab": 0
  },
  "preset": "",
  "program": 0,
  "sample_length": 40,
  "sample_temperature": 0.8999999761581421,
  "samples_per_epoch": 1,
  "seed": 1,
  "time_budget_s": 3600.0,
  "train": {
    "beta1": 0.8999999761581421,
    "beta2": 0.9990000128746033,
    "clip_norm": 0.0,
    "eps": 9.99999993922529e-09,
    "l2": 0.0,
    "lr": 0.003000000026077032,
    "momentum": 0.8999999761581421,
    "optimizer": "adam",
    "reset_state_per_batch": true,
    "rms_decay": 0.949999988079071,
    "seed": 1,
    "tbptt_bwd": 10,
    "tbptt_fwd": 20
  },
  "upper_program": 24,
  "valid_file": "",
  "valid_fraction": 0.1,
  "wav": false,
  "window": 60
}
)";

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST(RunConfig, StoredConfigReadsAndWritesBackTheSameJson) {
  const auto stored = nlohmann::json::parse(kStoredConfig);
  const auto c = stored.get<pl::RunConfig>();
  EXPECT_EQ(c.inputs, std::vector<std::string>{"/tmp/oldrun/mel.txt"});
  EXPECT_EQ(c.kind, pl::LineKind::melody);
  EXPECT_EQ(c.settings.network.hidden, 8);
  EXPECT_EQ(c.settings.network.seed, 12346u);
  EXPECT_EQ(c.settings.execution.threads, 1);
  EXPECT_EQ(c.settings.train.tbptt_fwd, 20);
  EXPECT_EQ(c.settings.train.tbptt_bwd, 10);
  EXPECT_EQ(c.settings.train.optimizer.lr, 0.003f);
  EXPECT_EQ(c.settings.sample_temperature, 0.9f);
  EXPECT_EQ(c.settings.time_budget_s, 3600.0);
  EXPECT_EQ(c.settings.seed, 1u);
  // A run from before MIDI recovery (issue 17) read its MIDI inputs strictly, and resumes so.
  EXPECT_TRUE(c.strict_midi);
  // Written back: the same keys and values, as text too, with that one added.
  auto with_mode = stored;
  with_mode["strict_midi"] = true;
  EXPECT_EQ(nlohmann::json(c), with_mode);
  auto back = nlohmann::json(c);
  back.erase("strict_midi");
  EXPECT_EQ(back.dump(2) + "\n", kStoredConfig);
}

TEST(RunConfig, ConfigsFromBeforeHarmoniesReadAsMelodies) {
  auto j = nlohmann::json::parse(kStoredConfig);
  j.erase("kind");
  j.erase("upper_program");
  auto c = j.get<pl::RunConfig>();
  EXPECT_EQ(c.kind, pl::LineKind::melody);
  EXPECT_EQ(c.upper_program, 24);
  j["kind"] = "harmony";
  j["upper_program"] = 40;
  c = j.get<pl::RunConfig>();
  EXPECT_EQ(c.kind, pl::LineKind::harmony);
  EXPECT_EQ(c.upper_program, 40);
}

TEST(RunConfig, MissingOrDamagedConfigIsNamed) {
  const auto dir = melodl::train_test::temp_dir("run-config");
  try {
    pl::read_run_config(dir);
    FAIL() << "no config.json";
  } catch (const melodl::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json: not found"), std::string::npos);
  }
  for (const char* text : {"{", R"({"batch": 4})"}) {
    write(dir / "config.json", text);
    try {
      pl::read_run_config(dir);
      FAIL() << text;
    } catch (const melodl::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("damaged run configuration"), std::string::npos);
    }
  }
  write(dir / "config.json", kStoredConfig);
  nlohmann::json stored;
  EXPECT_EQ(pl::read_run_config(dir, &stored).settings.batch, 4);
  EXPECT_EQ(stored, nlohmann::json::parse(kStoredConfig));
}

TEST(RunConfig, PresetsFillOnlyWhatTheUserLeft) {
  pl::TrainSettings s;
  s.network.hidden = 64;
  const auto none = [](const char*) { return false; };
  EXPECT_EQ(pl::apply_preset("melodl4j", pl::LineKind::melody, s, none), "melodl4j");
  EXPECT_EQ(s.network.layers, 2);
  EXPECT_EQ(s.network.hidden, 200);
  EXPECT_EQ(s.train.optimizer.kind, melodl::lstm::OptimizerKind::dl4j_rmsprop);
  EXPECT_EQ(s.train.optimizer.lr, 0.1f);
  EXPECT_EQ(s.train.tbptt_fwd, 50);
  EXPECT_EQ(s.train.tbptt_bwd, 50);

  pl::TrainSettings h;
  h.network.hidden = 64;
  h.window = 123;
  const auto hidden_given = [](const char* flag) { return std::string(flag) == "--hidden"; };
  EXPECT_EQ(pl::apply_preset("", pl::LineKind::harmony, h, hidden_given), "harmonies");
  EXPECT_EQ(h.network.layers, 3);
  EXPECT_EQ(h.network.hidden, 64);  // given
  EXPECT_EQ(h.window, 2000);
  EXPECT_EQ(h.sample_length, 2000);
  EXPECT_EQ(h.train.optimizer.lr, 2e-3f);
  EXPECT_EQ(h.train.optimizer.l2, 0.0015f / 300.0f);

  pl::TrainSettings d;
  EXPECT_EQ(pl::apply_preset("", pl::LineKind::melody, d, none), "");
  EXPECT_EQ(d.network.hidden, pl::TrainSettings{}.network.hidden);
  EXPECT_THROW(pl::apply_preset("melodl4j", pl::LineKind::harmony, d, none),
               melodl::InvalidArgument);
  EXPECT_THROW(pl::apply_preset("harmonies", pl::LineKind::melody, d, none),
               melodl::InvalidArgument);
  EXPECT_THROW(pl::apply_preset("bach", pl::LineKind::melody, d, none), melodl::InvalidArgument);
}
