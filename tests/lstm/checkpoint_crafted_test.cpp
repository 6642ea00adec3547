// tests/lstm/checkpoint_crafted_test.cpp: checkpoints with valid checksums but crafted
// contents (issue 14): a config claiming a huge network is refused before anything sized by
// it is allocated; non-finite weights or optimizer state, a negative or malformed step, a
// malformed RNG state, an optimizer slot list that does not fit the optimizer, an invalid
// training config and carried state of the wrong shape are refused. Every message names the
// file and the field.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "lstm/checkpoint.h"
#include "lstm/checkpoint_file.h"
#include "lstm_test_util.h"

namespace melodl::lstm {
namespace {

namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("melodl_lstm_crafted_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

// A trained checkpoint (Adam, carried state) read back as its generic file.
CheckpointFile good_file() {
  NetworkConfig cfg = test::small_config(9, 2, 12, true);
  TrainConfig tc;
  tc.optimizer.kind = OptimizerKind::adam;
  tc.optimizer.lr = 0.01f;
  tc.tbptt_fwd = 5;
  tc.tbptt_bwd = 5;
  tc.reset_state_per_batch = false;
  Trainer t(Network(cfg, test::on_cpu(1)), tc);
  const auto b = test::random_batch(15, 4, 9, 7);
  t.train_batch(b.view());
  const fs::path p = temp_path("good.safetensors");
  save_checkpoint(p, t, "abcdefghi");
  return read_checkpoint_file(p);
}

NamedTensor& tensor(CheckpointFile& f, const std::string& name) {
  for (auto& t : f.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

long max_rss_kib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Writes the crafted file (valid checksums) and expects load_checkpoint to refuse it with a
// message holding the path and `field`.
void expect_refused(const std::string& name, const std::function<void(CheckpointFile&)>& craft,
                    const std::string& field) {
  CheckpointFile f = good_file();
  craft(f);
  const fs::path p = temp_path(name + ".safetensors");
  write_checkpoint_file(p, f);
  try {
    load_checkpoint(p);
    FAIL() << name << ": loaded";
  } catch (const ::melodl::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p.string()), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find(field), std::string::npos) << name << ": " << msg;
  }
}

TEST(CraftedCheckpoint, TheGoodFileLoads) {
  const fs::path p = temp_path("plain.safetensors");
  write_checkpoint_file(p, good_file());
  const LoadedCheckpoint ck = load_checkpoint(p);
  EXPECT_TRUE(ck.train_config.has_value());
  EXPECT_EQ(ck.optimizer_slots.size(), 2u);
  EXPECT_GT(ck.carried_state.batch, 0);
}

TEST(CraftedCheckpoint, HugeConfigIsRefusedBeforeAllocating) {
  struct Case {
    std::string field;
    int value;
    std::string refusal;
  };
  for (const auto& [field, value, refusal] : std::vector<Case>{
           {"vocab", 1'000'000, "\"layer0.W\" has a shape that does not match the config"},
           {"hidden", 65536, "\"layer0.W\" has a shape that does not match the config"},
           {"layers", 64, "tensor \"layer2.W\" missing"}}) {
    const long before = max_rss_kib();
    const auto t0 = std::chrono::steady_clock::now();
    expect_refused(
        "huge-" + field,
        [&, field = field, value = value](CheckpointFile& f) {
          auto j = nlohmann::json::parse(f.metadata.at("lstm.network_config"));
          j[field] = value;
          f.metadata["lstm.network_config"] = j.dump();
        },
        refusal);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 1.0) << field;
    // The old loader allocated the parameters the config claims (4 GB for vocab 10^6).
    EXPECT_LT(max_rss_kib() - before, 100 * 1024) << field;
  }
}

TEST(CraftedCheckpoint, NonFiniteValuesAreRefused) {
  for (const std::string name : {"layer0.W", "optim.m.layer1.R", "optim.v.out.b"}) {
    for (float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
      expect_refused(
          "nonfinite",
          [&](CheckpointFile& f) {
            auto& t = tensor(f, name);
            std::memcpy(t.bytes.data() + 4, &bad, sizeof bad);
          },
          "tensor \"" + name + "\" holds a non-finite value");
    }
  }
}

TEST(CraftedCheckpoint, MetadataValuesAreChecked) {
  expect_refused(
      "negative-step", [](CheckpointFile& f) { f.metadata["lstm.step"] = "-5"; }, "lstm.step");
  expect_refused(
      "text-step", [](CheckpointFile& f) { f.metadata["lstm.step"] = "12x"; }, "lstm.step");
  expect_refused(
      "rng", [](CheckpointFile& f) { f.metadata["lstm.rng"] = "x"; }, "lstm.rng");
  expect_refused(
      "slots",
      [](CheckpointFile& f) {
        std::string list = "m";
        for (int i = 0; i < 1000; ++i) list += ",m";
        f.metadata["lstm.optimizer_slots"] = list;
      },
      "lstm.optimizer_slots");
  expect_refused(
      "lr",
      [](CheckpointFile& f) {
        auto j = nlohmann::json::parse(f.metadata.at("lstm.train_config"));
        j["lr"] = -1.0;
        f.metadata["lstm.train_config"] = j.dump();
      },
      "lstm.train_config");
}

TEST(CraftedCheckpoint, CarriedStateOfTheWrongShapeIsRefused) {
  expect_refused(
      "state",
      [](CheckpointFile& f) {
        auto& t = tensor(f, "state.layer1.c");
        t.shape = {t.shape[0] * 2, t.shape[1] / 2};
      },
      "state.layer1.c");
}

}  // namespace
}  // namespace melodl::lstm
