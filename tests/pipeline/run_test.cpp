// tests/pipeline/run_test.cpp: the training run (pipeline/training.h) and the
// `melodl train / compose / eval` commands: bit-identical continuation after an
// interruption and after kill -9 (also in the middle of a checkpoint), the non-finite
// policy under fault injection, falling back from a corrupt checkpoint, and clear errors
// for bad inputs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/error.h"
#include "base/files.h"
#include "lstm/checkpoint.h"
#include "lstm/checkpoint_file.h"
#include "lstm/network.h"
#include "pipeline/run_time.h"
#include "pipeline/training.h"
#include "tests/pipeline/train_test_util.h"

namespace pl = melodl::pipeline;
namespace fs = std::filesystem;
using melodl::train_test::make_entries;
using melodl::train_test::run_command;
using melodl::train_test::temp_dir;

namespace {

pl::TrainSettings tiny_settings() {
  pl::TrainSettings s;
  s.network.layers = 1;
  s.network.hidden = 16;
  s.execution.threads = 1;
  s.train.optimizer.kind = melodl::lstm::OptimizerKind::adam;
  s.train.optimizer.lr = 0.01f;
  s.train.tbptt_fwd = s.train.tbptt_bwd = 20;
  s.batch = 4;
  s.window = 60;
  s.epochs = 3;
  s.checkpoint_every_s = 0;  // after every batch
  s.samples_per_epoch = 2;
  s.sample_length = 80;
  s.seed = 3;
  return s;
}

struct Data {
  pl::Split split;
  pl::Vocabulary vocab;
};

Data tiny_data() {
  const auto c = pl::Corpus::from_entries(make_entries(6, 6));
  Data d;
  d.split = c.split_by_source(0.2, 1);
  d.vocab = pl::Vocabulary::from_melodies(c.melodies());
  return d;
}

std::vector<float> params_of(const fs::path& ckpt) {
  return melodl::lstm::load_checkpoint(ckpt).params;
}

bool finite(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

// Fault injection: a NaN in the gradient of update attempts [first, first + count).
void nan_gradients(pl::TrainCallbacks& cb, std::int64_t first, std::int64_t count = 1) {
  cb.before_update = [=](std::int64_t attempt, melodl::lstm::Trainer& t) {
    if (attempt >= first && attempt < first + count) {
      const auto g = t.mutable_gradients();
      g[g.size() / 2] = std::numeric_limits<float>::quiet_NaN();
    }
  };
}

// Whether `dir` holds a temporary file of the atomic writer (".<name>.tmp-<pid>-<n>").
bool has_temp_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(TrainRun, InterruptedAndResumedRunIsBitIdentical) {
  const Data d = tiny_data();
  const auto dir_a = temp_dir("full"), dir_b = temp_dir("interrupted");
  std::atomic<bool> never{false};
  pl::TrainingRun a(dir_a, tiny_settings(), d.split, d.vocab);
  ASSERT_EQ(a.run(never, {}), pl::RunEnd::finished);
  const auto params_a = params_of(a.latest_checkpoint());

  std::atomic<bool> stop{false};
  std::size_t batches = 0;
  pl::TrainCallbacks cb;
  cb.progress = [&](const pl::ProgressInfo&) {
    if (++batches == 5) stop = true;  // mid epoch 2 (3 or 4 batches per epoch)
  };
  {
    pl::TrainingRun b(dir_b, tiny_settings(), d.split, d.vocab);
    ASSERT_EQ(b.run(stop, cb), pl::RunEnd::interrupted);
    EXPECT_FALSE(b.state().finished);
  }
  auto b = pl::TrainingRun::resume(dir_b, tiny_settings(), d.split);
  never = false;
  ASSERT_EQ(b.run(never, {}), pl::RunEnd::finished);
  const auto params_b = params_of(b.latest_checkpoint());
  ASSERT_EQ(params_a.size(), params_b.size());
  EXPECT_EQ(0, std::memcmp(params_a.data(), params_b.data(), params_a.size() * sizeof(float)));
  ASSERT_EQ(a.state().history.size(), 3u);
  ASSERT_EQ(b.state().history.size(), 3u);
  for (std::size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(a.state().history[e].train_bits_per_symbol,
              b.state().history[e].train_bits_per_symbol);
    EXPECT_EQ(a.state().history[e].valid_bits_per_symbol,
              b.state().history[e].valid_bits_per_symbol);
  }
  // Training helped at all (3 epochs of a learnable toy corpus).
  EXPECT_LT(a.state().history.back().valid_bits_per_symbol,
            a.state().history.front().valid_bits_per_symbol);
  // Samples of every epoch, the same in both runs.
  ASSERT_EQ(a.state().samples.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_EQ(a.state().samples[i].text, b.state().samples[i].text);
  // At most keep_checkpoints files are kept.
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_a / "checkpoints"))
    files += e.path().extension() == ".safetensors";
  EXPECT_EQ(files, 3u);
}

TEST(TrainRun, NanGradientSkipsTheStep) {
  const Data d = tiny_data();
  const auto dir = temp_dir("nan-grad");
  pl::TrainingRun run(dir, tiny_settings(), d.split, d.vocab);
  std::vector<std::string> log;
  pl::TrainCallbacks cb;
  nan_gradients(cb, 4);
  cb.log = [&](const std::string& m) { log.push_back(m); };
  std::atomic<bool> never{false};
  run.run(never, cb);
  EXPECT_EQ(run.state().skipped_steps, 1u);
  EXPECT_EQ(run.state().reloads, 0u);
  EXPECT_FLOAT_EQ(run.state().lr, 0.01);
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log.front().find("step 4: non-finite gradient norm, update skipped"), std::string::npos)
      << log.front();
  EXPECT_TRUE(finite(params_of(run.latest_checkpoint())));
  // One update fewer than attempts.
  EXPECT_EQ(run.state().history.back().steps + 1, run.state().attempts);
}

TEST(TrainRun, RepeatedNanGradientsReloadWithHalvedLearningRate) {
  const Data d = tiny_data();
  const auto dir = temp_dir("nan-grad-3");
  pl::TrainingRun run(dir, tiny_settings(), d.split, d.vocab);
  std::vector<std::string> log;
  pl::TrainCallbacks cb;
  nan_gradients(cb, 6, 3);
  cb.log = [&](const std::string& m) { log.push_back(m); };
  std::atomic<bool> never{false};
  run.run(never, cb);
  EXPECT_EQ(run.state().skipped_steps, 3u);
  EXPECT_EQ(run.state().reloads, 1u);
  EXPECT_FLOAT_EQ(run.state().lr, 0.005);
  EXPECT_FLOAT_EQ(static_cast<float>(run.state().history.back().lr), 0.005f);
  bool reloaded = false;
  for (const auto& m : log)
    reloaded |= m.find("learning rate halved to 0.005") != std::string::npos;
  EXPECT_TRUE(reloaded);
  EXPECT_EQ(melodl::lstm::load_checkpoint(run.latest_checkpoint()).train_config->optimizer.lr,
            0.005f);
}

TEST(TrainRun, NanWeightIsNeverCheckpointedAndReloads) {
  const Data d = tiny_data();
  const auto dir = temp_dir("nan-weight");
  auto s = tiny_settings();
  s.keep_checkpoints = 100;  // keep them all to inspect every one
  pl::TrainingRun run(dir, s, d.split, d.vocab);
  pl::TrainCallbacks cb;  // a NaN weight after update attempt 7
  cb.after_update = [](std::int64_t attempt, melodl::lstm::Trainer& t) {
    if (attempt == 7) t.network().params()[0] = std::numeric_limits<float>::quiet_NaN();
  };
  std::atomic<bool> never{false};
  run.run(never, cb);
  EXPECT_EQ(run.state().reloads, 1u);
  EXPECT_FLOAT_EQ(run.state().lr, 0.005);
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir / "checkpoints")) {
    if (e.path().extension() != ".safetensors") continue;
    ++n;
    EXPECT_TRUE(finite(params_of(e.path()))) << e.path();
  }
  EXPECT_GT(n, 5u);
  EXPECT_TRUE(
      finite(std::vector<float>(run.network().params().begin(), run.network().params().end())));
}

TEST(TrainRun, CheckpointWrittenHookRunsBetweenTheFileAndLatest) {
  const Data d = tiny_data();
  const auto dir = temp_dir("ckpt-hook");
  pl::TrainingRun run(dir, tiny_settings(), d.split, d.vocab);
  std::vector<fs::path> written;
  pl::TrainCallbacks cb;
  cb.checkpoint_written = [&](const fs::path& ckpt) {
    EXPECT_TRUE(fs::exists(ckpt)) << ckpt;
    std::ifstream in(dir / "checkpoints" / "latest");
    std::string latest;
    std::getline(in, latest);
    EXPECT_NE(latest, ckpt.filename().string()) << "latest already names " << ckpt;
    written.push_back(ckpt);
  };
  std::atomic<bool> never{false};
  ASSERT_EQ(run.run(never, cb), pl::RunEnd::finished);
  ASSERT_GE(written.size(), 4u);  // the first checkpoint, then after every batch
  EXPECT_EQ(written.back(), run.latest_checkpoint());
}

// A stop (the first SIGTERM) arriving while a checkpoint is being written lets that write
// finish and makes it the last: the run stops there without writing the same state again.
TEST(TrainRun, StopDuringACheckpointWriteFinishesItAndWritesNoOther) {
  const Data d = tiny_data();
  const auto dir = temp_dir("stop-in-write");
  pl::TrainingRun run(dir, tiny_settings(), d.split, d.vocab);
  std::atomic<bool> stop{false};
  std::vector<fs::path> written;
  std::vector<std::string> logs;
  pl::TrainCallbacks cb;
  cb.checkpoint_written = [&](const fs::path& ckpt) { written.push_back(ckpt); };
  cb.log = [&](const std::string& m) { logs.push_back(m); };
  cb.abandon_write = [&] {
    if (written.size() == 2) stop = true;  // during the third write (after the 2nd batch)
    return false;
  };
  ASSERT_EQ(run.run(stop, cb), pl::RunEnd::interrupted);
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(run.latest_checkpoint(), written.back());
  EXPECT_EQ(run.state().next_batch, 2u);
  ASSERT_FALSE(logs.empty());
  EXPECT_NE(logs.back().find("stopping once checkpoint " + written.back().string()),
            std::string::npos)
      << logs.back();
  EXPECT_EQ(pl::find_good_checkpoint(dir), written.back());
}

// abandon_write (the second SIGTERM) cuts the write in progress short: its temporary file
// goes, `latest` keeps naming the previous checkpoint, which loads and resumes.
TEST(TrainRun, AbandonedCheckpointWriteKeepsThePreviousOne) {
  const Data d = tiny_data();
  const auto dir = temp_dir("abandon-write");
  std::vector<fs::path> written;
  std::atomic<bool> stop{false};
  int polls_in_fourth = 0;
  pl::TrainCallbacks cb;
  cb.checkpoint_written = [&](const fs::path& ckpt) { written.push_back(ckpt); };
  cb.abandon_write = [&] {
    if (written.size() != 3) return false;
    stop = true;
    return ++polls_in_fourth == 4;  // after the header and a few tensors are on disk
  };
  {
    pl::TrainingRun run(dir, tiny_settings(), d.split, d.vocab);
    EXPECT_THROW(run.run(stop, cb), melodl::WriteCancelled);
    EXPECT_EQ(run.latest_checkpoint(), written.back());
  }
  EXPECT_EQ(polls_in_fourth, 4);
  ASSERT_EQ(written.size(), 3u);
  EXPECT_FALSE(has_temp_files(dir / "checkpoints"));
  std::vector<std::string> skipped;
  EXPECT_EQ(pl::find_good_checkpoint(dir, &skipped), written.back());
  EXPECT_TRUE(skipped.empty());
  std::atomic<bool> never{false};
  auto resumed = pl::TrainingRun::resume(dir, tiny_settings(), d.split);
  EXPECT_EQ(resumed.state().next_batch, 2u);
  EXPECT_EQ(resumed.run(never, {}), pl::RunEnd::finished);
}

TEST(TrainRun, CorruptLatestCheckpointFallsBackToThePreviousOne) {
  const Data d = tiny_data();
  const auto dir = temp_dir("corrupt");
  auto s = tiny_settings();
  s.epochs = 1;
  pl::TrainingRun run(dir, s, d.split, d.vocab);
  std::atomic<bool> never{false};
  run.run(never, {});
  const fs::path latest = run.latest_checkpoint();
  {
    std::fstream f(latest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(latest) / 2));
    f.write("garbage!", 8);
  }
  std::vector<std::string> skipped;
  const fs::path good = pl::find_good_checkpoint(dir, &skipped);
  EXPECT_NE(good, latest);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find(latest.filename().string()), std::string::npos) << skipped[0];
  // Resume continues from the previous checkpoint and finishes a second epoch.
  s.epochs = 2;
  auto resumed = pl::TrainingRun::resume(dir, s, d.split);
  EXPECT_EQ(resumed.run(never, {}), pl::RunEnd::finished);
  EXPECT_EQ(resumed.state().history.size(), 2u);
  // Nothing loadable at all: a clear error naming the directory.
  for (const auto& e : fs::directory_iterator(dir / "checkpoints")) {
    std::ofstream(e.path(), std::ios::trunc) << "x";
  }
  try {
    pl::find_good_checkpoint(dir);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "checkpoints").string()), std::string::npos);
  }
}

// A checkpoint with valid checksums whose run state is crafted (a negative epoch, a batch
// past the epoch's end) or whose RNG state or step is malformed: resume passes over it,
// says why, and continues from the previous good one. When none is good, the error lists
// every checkpoint and its reason.
TEST(TrainRun, CraftedRunStateFallsBackAndAllBadListsReasons) {
  const Data d = tiny_data();
  const auto dir = temp_dir("crafted");
  auto s = tiny_settings();
  s.epochs = 1;
  pl::TrainingRun run(dir, s, d.split, d.vocab);
  std::atomic<bool> never{false};
  run.run(never, {});
  const fs::path latest = run.latest_checkpoint();
  const auto craft = [](const fs::path& p,
                        const std::function<void(melodl::lstm::CheckpointFile&)>& f) {
    auto file = melodl::lstm::read_checkpoint_file(p);
    f(file);
    melodl::lstm::write_checkpoint_file(p, file);
  };
  craft(latest, [](auto& f) {
    auto j = nlohmann::json::parse(f.metadata.at("user.run_state"));
    j["epoch"] = -7;
    j["next_batch"] = 1000000000;
    f.metadata["user.run_state"] = j.dump();
  });
  // The temporary file of a checkpoint write killed by a process that is gone.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const fs::path orphan =
      dir / "checkpoints" / (".ckpt-000099.safetensors.tmp-" + std::to_string(dead) + "-0");
  std::ofstream(orphan) << "partial";
  s.epochs = 2;
  auto resumed = pl::TrainingRun::resume(dir, s, d.split);
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_NE(resumed.latest_checkpoint(), latest);
  std::vector<std::string> logs;
  pl::TrainCallbacks cb;
  cb.log = [&](const std::string& m) { logs.push_back(m); };
  EXPECT_EQ(resumed.run(never, cb), pl::RunEnd::finished);
  ASSERT_GE(logs.size(), 2u);
  EXPECT_NE(logs[0].find("removed the temporary file " + orphan.string()), std::string::npos)
      << logs[0];
  EXPECT_NE(logs[1].find(latest.filename().string()), std::string::npos) << logs[1];
  EXPECT_NE(logs[1].find("run state: epoch -7 is negative"), std::string::npos) << logs[1];
  EXPECT_EQ(resumed.state().history.size(), 2u);

  // Every checkpoint crafted, each in its own way: the error names each file and reason.
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(dir / "checkpoints"))
    if (e.path().extension() == ".safetensors") all.push_back(e.path());
  ASSERT_GE(all.size(), 2u);
  craft(all[0], [](auto& f) {
    f.metadata["lstm.rng"] = std::string(1, 'x');
  });  // not "x": GCC 12 -Wrestrict false positive
  for (std::size_t i = 1; i < all.size(); ++i)
    craft(all[i], [](auto& f) { f.metadata["lstm.step"] = "-1"; });
  try {
    pl::TrainingRun::resume(dir, s, d.split);
    FAIL() << "expected an error";
  } catch (const melodl::InvalidArgument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no loadable checkpoint in " + (dir / "checkpoints").string()),
              std::string::npos)
        << msg;
    for (const auto& p : all) EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("lstm.rng"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lstm.step"), std::string::npos) << msg;
  }
}

TEST(TrainRun, ResumeWithOtherDataIsRefused) {
  const Data d = tiny_data();
  const auto dir = temp_dir("other-data");
  auto s = tiny_settings();
  s.epochs = 1;
  pl::TrainingRun run(dir, s, d.split, d.vocab);
  std::atomic<bool> never{false};
  run.run(never, {});
  auto other = pl::Corpus::from_entries(make_entries(6, 6, 99)).split_by_source(0.2, 1);
  EXPECT_THROW(pl::TrainingRun::resume(dir, s, other), melodl::InvalidArgument);
  // A fresh run into a directory with checkpoints is refused too.
  EXPECT_THROW(pl::TrainingRun(dir, s, d.split, d.vocab), melodl::InvalidArgument);
}

#ifdef MELODL_EXE
namespace {

const std::string kExe = MELODL_EXE;

fs::path write_melodies(const fs::path& dir, unsigned seed = 1) {
  std::string text = "// melodl melodies format=native version=1\n";
  for (const auto& e : make_entries(8, 8, seed))
    text +=
        "// track=0 channel=0 program=0 voice=top start_pitch=60 unit_ticks=60 unit_s=0.1 source=" +
        e.source + "\n" + e.text + "\n";
  const fs::path p = dir / ("melodies-" + std::to_string(seed) + ".txt");
  std::ofstream(p) << text;
  return p;
}

const char* kTinyFlags =
    " --layers 1 --hidden 24 --window 60 --tbptt 20 --batch 4 --epochs 4 --threads 1 --seed 5"
    " --checkpoint-every 0 --samples-per-epoch 1 --sample-length 60 -q";

nlohmann::json manifest(const fs::path& run) {
  std::ifstream in(run / "manifest.json");
  return nlohmann::json::parse(in);
}

}  // namespace

// `melodl compose` on a checkpoint written before issue 13 moved the execution options out
// of the model's config (tests/lstm/data/pre-issue13.safetensors, 1 x 8 LSTM): it loads and
// composes exactly what the program composed from it before the change.
TEST(ComposeCommand, PreIssue13CheckpointComposesAsBefore) {
  const auto dir = temp_dir("pre13");
  const fs::path ck = fs::path(MELODL_LSTM_TEST_DATA) / "pre-issue13.safetensors";
  const auto c = run_command(kExe + " compose " + ck.string() +
                             " --count 2 --length 60 --seed 9 -o " + (dir / "out").string());
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("decoded cleanly: 2/2"), std::string::npos) << c.output;
  std::ifstream in(dir / "out" / "compositions.txt");
  const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string want =
      "// melodl melodies format=native version=1\n"
      "// track=0 channel=0 program=0 voice=top start_pitch=60 unit_ticks=60 unit_s=0.075 "
      "source=compose melody-01\n"
      "<hX9YqIbKiMcO5BbL5ObDoIqJjC6W6VdQhEoBbOnB5I5PiM5OdEmT5KdLhLc>\n"
      "// track=0 channel=0 program=0 voice=top start_pitch=60 unit_ticks=60 unit_s=0.075 "
      "source=compose melody-02\n"
      "<gW2E2N6JtLhFgFhLnB6NvO3O6OoAn>\n";
  EXPECT_EQ(got, want);
}

TEST(TrainCommand, KillNineAtRandomTimesThenResumeIsBitIdentical) {
  const auto dir = temp_dir("kill");
  const fs::path data = write_melodies(dir);
  const auto full = run_command(kExe + " train " + data.string() + kTinyFlags + " --run-dir " +
                                (dir / "full").string());
  ASSERT_EQ(full.code, 0) << full.output;

  // The same run (the full run's configuration, through the training of `melodl train`),
  // killed with SIGKILL at several moments; checkpoints pause 40 ms between writing the file
  // and updating `latest` (train_with_pause.cpp), so kills often land inside a checkpoint.
  const fs::path run = dir / "killed";
  const std::string cmd =
      std::string(MELODL_TRAIN_WITH_PAUSE) + " 40 " + (dir / "full").string() + " " + run.string();
  int kills = 0;
  for (int attempt = 0; attempt < 12; ++attempt) {
    const bool resume = fs::exists(run / "config.json");
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    bool exited = false;
    if (!resume) {
      // A fresh start first reads the data and writes config.json; on a loaded machine that
      // can take longer than the kill delays below, and every kill would land before the run
      // exists. Wait for it (up to 60 s), so the kills land in training and checkpointing.
      const auto t0 = std::chrono::steady_clock::now();
      while (!fs::exists(run / "config.json") &&
             std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          exited = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(250 + 137 * attempt % 400));
    if (!exited && ::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ++kills;
      continue;
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "attempt " << attempt;
    break;
  }
  EXPECT_GE(kills, 1);
  if (!fs::exists(run / "manifest.json")) {  // `melodl train` continues the killed run
    const auto fin = run_command(
        fs::exists(run / "config.json") ? kExe + " train -q --resume " + run.string() : cmd);
    ASSERT_EQ(fin.code, 0) << fin.output;
  }
  const auto ma = manifest(dir / "full"), mb = manifest(run);
  ASSERT_EQ(ma["epochs"].size(), 4u);
  ASSERT_EQ(mb["epochs"].size(), 4u);
  for (std::size_t e = 0; e < 4; ++e) {
    EXPECT_EQ(ma["epochs"][e]["train_bits_per_symbol"].get<double>(),
              mb["epochs"][e]["train_bits_per_symbol"].get<double>());
    EXPECT_EQ(ma["epochs"][e]["valid_bits_per_symbol"].get<double>(),
              mb["epochs"][e]["valid_bits_per_symbol"].get<double>());
  }
  const auto pa = params_of(dir / "full" / "checkpoints" / ma["checkpoint"].get<std::string>());
  const auto pb = params_of(run / "checkpoints" / mb["checkpoint"].get<std::string>());
  ASSERT_EQ(pa.size(), pb.size());
  EXPECT_EQ(0, std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)));
}

TEST(TrainCommand, SigtermWritesACheckpointAndExitsCleanly) {
  const auto dir = temp_dir("sigterm");
  const fs::path data = write_melodies(dir);
  const fs::path run = dir / "run";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string c =
        kExe + " train " + data.string() +
        " --layers 1 --hidden 24 --window 60 --tbptt 20 --batch 4 --epochs 1000"
        " --patience 0 --threads 1 --checkpoint-every 1h --samples-per-epoch 0 -q --run-dir " +
        run.string();
    ::execl("/bin/sh", "sh", "-c", ("exec " + c + " >/dev/null 2>&1").c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  // The stop checkpoint is the newest and holds the position reached.
  std::vector<std::string> skipped;
  const fs::path latest = pl::find_good_checkpoint(run, &skipped);
  EXPECT_TRUE(skipped.empty());
  EXPECT_NE(latest.filename().string(), "ckpt-000000.safetensors");
  const auto r = run_command(kExe + " train -q --resume " + run.string() + " --epochs 2");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(run / "manifest.json"));
}

// The second SIGTERM during a long checkpoint write (a 4 x 700 network: ~190 MB with Adam's
// state) abandons it within a chunk: the process exits promptly (well under a second on an
// idle machine; the bound leaves room for a loaded one and for freeing the memory), leaves
// no temporary file and keeps the previous checkpoint, which loads.
TEST(TrainCommand, SecondSigtermAbandonsALongCheckpointWrite) {
  const auto dir = temp_dir("sigterm-write");
  const fs::path data = write_melodies(dir);
  const fs::path run = dir / "run", log = dir / "log.txt";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string c =
        kExe + " train " + data.string() +
        " --layers 4 --hidden 700 --window 10 --tbptt 10 --batch 1 --epochs 1000"
        " --patience 0 --threads 1 --checkpoint-every 0 --samples-per-epoch 0 --run-dir " +
        run.string();
    ::execl("/bin/sh", "sh", "-c", ("exec " + c + " >" + log.string() + " 2>&1").c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto wait_for = [&](const std::function<bool()>& ready) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!ready() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return ready();
  };
  const fs::path ckpts = run / "checkpoints";
  // The first checkpoint is in place and the second is being written.
  const bool writing = wait_for([&] { return fs::exists(ckpts / "latest"); }) &&
                       wait_for([&] { return has_temp_files(ckpts); });
  ::kill(pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGTERM);
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(writing) << "no second checkpoint write seen";
  const std::string out = melodl::read_text_file(log);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_EQ(WEXITSTATUS(status), 130) << out;
  EXPECT_LT(s, 3.0) << out;
  EXPECT_NE(out.find("stopped by SIGTERM again during a checkpoint write, which was abandoned; "
                     "checkpoint " +
                     (ckpts / "ckpt-000000.safetensors").string() + " kept"),
            std::string::npos)
      << out;
  EXPECT_FALSE(has_temp_files(ckpts));
  std::vector<std::string> skipped;
  EXPECT_EQ(pl::find_good_checkpoint(run, &skipped), ckpts / "ckpt-000000.safetensors");
  EXPECT_TRUE(skipped.empty());
}

TEST(TrainCommand, ComposeAndEvalFromARunDirectory) {
  const auto dir = temp_dir("compose");
  const fs::path data = write_melodies(dir);
  const fs::path run = dir / "run";
  ASSERT_EQ(
      run_command(kExe + " train " + data.string() + kTinyFlags + " --run-dir " + run.string())
          .code,
      0);
  EXPECT_TRUE(fs::exists(run / "composition.txt"));
  EXPECT_TRUE(fs::exists(run / "samples" / "epoch-004" / "sample-01.mid"));
  const auto c = run_command(kExe + " compose " + run.string() + " --count 30 --length 120 -o " +
                             (dir / "out").string());
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("decoded cleanly: 30/30"), std::string::npos) << c.output;
  EXPECT_TRUE(fs::exists(dir / "out" / "melody-30.mid"));
  EXPECT_TRUE(fs::exists(dir / "out" / "compositions.txt"));
  const auto e = run_command(kExe + " eval " + run.string() + " --data " + data.string() +
                             " --samples 4 --json");
  ASSERT_EQ(e.code, 0) << e.output;
  const auto j = nlohmann::json::parse(e.output);
  EXPECT_EQ(j["ngram"].size(), 6u);
  EXPECT_GT(j["model"]["bits_per_note"].get<double>(), 0.0);
}

// A finished run resumed with more epochs trains on: the manifest then lists every epoch,
// and the continuation equals a run given all the epochs at once (bitwise: same
// validation numbers).
TEST(TrainCommand, ResumeWithMoreEpochsContinuesAFinishedRun) {
  const auto dir = temp_dir("more-epochs");
  const fs::path data = write_melodies(dir);
  const fs::path run = dir / "run", whole = dir / "whole";
  auto with_epochs = [](int n) {
    std::string f = kTinyFlags;
    f.replace(f.find(" --epochs 4"), 11, " --epochs " + std::to_string(n));
    return f;
  };
  const std::string flags = with_epochs(2);
  ASSERT_EQ(
      run_command(kExe + " train " + data.string() + flags + " --run-dir " + run.string()).code, 0);
  ASSERT_EQ(manifest(run)["epochs"].size(), 2u);
  const auto r = run_command(kExe + " train -q --resume " + run.string() + " --epochs 3");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m = manifest(run);
  ASSERT_EQ(m["epochs"].size(), 3u) << r.output;
  EXPECT_EQ(m["epochs"][2]["epoch"], 3);
  EXPECT_TRUE(fs::exists(run / "samples" / "epoch-003" / "sample-01.mid"));
  ASSERT_EQ(run_command(kExe + " train " + data.string() + with_epochs(3) + " --run-dir " +
                        whole.string())
                .code,
            0);
  const auto w = manifest(whole);
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(m["epochs"][k]["valid_bits_per_symbol"], w["epochs"][k]["valid_bits_per_symbol"])
        << "epoch " << k + 1;
  // resuming a finished run without more epochs does nothing and says so cleanly
  const auto again = run_command(kExe + " train -q --resume " + run.string());
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(manifest(run)["epochs"].size(), 3u);
}

TEST(TrainCommand, BadInputsGiveClearErrors) {
  const auto dir = temp_dir("bad");
  const fs::path data = write_melodies(dir);
  // Missing input.
  auto r = run_command(kExe + " train " + (dir / "nope.txt").string() + kTinyFlags);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("nope.txt"), std::string::npos) << r.output;
  // Empty corpus.
  std::ofstream(dir / "empty.txt") << "// melodl melodies format=native version=1\n";
  r = run_command(kExe + " train " + (dir / "empty.txt").string() + kTinyFlags + " --run-dir " +
                  (dir / "e").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("empty corpus"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("empty.txt"), std::string::npos) << r.output;
  // Corrupt checkpoint.
  std::ofstream(dir / "bad.safetensors") << "this is not a checkpoint";
  r = run_command(kExe + " compose " + (dir / "bad.safetensors").string() + " -o " +
                  (dir / "o").string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("bad.safetensors"), std::string::npos) << r.output;
  r = run_command(kExe + " eval " + (dir / "bad.safetensors").string() + " --data " +
                  data.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("bad.safetensors"), std::string::npos) << r.output;
  // A network far larger than any machine's memory is refused before anything is allocated
  // (issue 14: --hidden 8000 used to run 42 s and reach 6 GB before "out of memory").
  std::string huge = kTinyFlags;
  huge.replace(huge.find("--hidden 24"), 11, "--hidden 65536");
  const auto t0 = std::chrono::steady_clock::now();
  r = run_command(kExe + " train " + data.string() + huge + " --run-dir " + (dir / "h").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("needs about"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--hidden 65536"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
  EXPECT_FALSE(fs::exists(dir / "h" / "checkpoints")) << r.output;
  // A time budget shorter than one update is refused up front: the budget is checked only
  // between batches (issue 14: --hidden 8000 --time-budget 5s overran by minutes). One batch
  // here is ~62 GFLOP: 100 ms would need over 600 GFLOP/s on one thread.
  std::string slow = kTinyFlags;
  slow.replace(slow.find("--hidden 24"), 11, "--hidden 2000");
  slow.replace(slow.find("--batch 4"), 9, "--batch 32");
  slow.replace(slow.find("--epochs 4"), 10, "--time-budget 100ms");
  const auto t1 = std::chrono::steady_clock::now();
  r = run_command(kExe + " train " + data.string() + slow + " --run-dir " + (dir / "s").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("one batch ("), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("GFLOP) takes at least"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--hidden 2000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("time budget of 0.1 s"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(), 20.0);
  EXPECT_FALSE(fs::exists(dir / "s" / "checkpoints")) << r.output;
  // --device cuda without a usable GPU (or in a CPU-only build) fails before any work,
  // naming the reason; with one it trains.
  r = run_command(kExe + " train " + data.string() + kTinyFlags + " --device cuda --run-dir " +
                  (dir / "cu").string());
  if (melodl::lstm::resolve_device(melodl::lstm::Device::automatic) == melodl::lstm::Device::cuda) {
    EXPECT_EQ(r.code, 0) << r.output;
  } else {
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("--device cuda"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("not usable"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(dir / "cu" / "checkpoints")) << r.output;
  }
  std::string one_epoch = kTinyFlags;
  one_epoch.replace(one_epoch.find("--epochs 4"), 10, "--epochs 1");
  // A checkpoint with another vocabulary: trained on melodies without big leaps, asked
  // to evaluate melodies with a +12 leap ('Y') it has no unit for.
  const fs::path run = dir / "run";
  ASSERT_EQ(
      run_command(kExe + " train " + data.string() + one_epoch + " --run-dir " + run.string()).code,
      0);
  std::ofstream(dir / "leaps.txt")
      << "// melodl melodies format=native version=1\n<8Y8A8Y8A8>\n<8Y8Y8A8A8>\n";
  r = run_command(kExe + " eval " + run.string() + " --data " + (dir / "leaps.txt").string() +
                  " --train " + data.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("vocabulary"), std::string::npos) << r.output;
  // the file is named: a run directory gives its best checkpoint (issue 15)
  EXPECT_NE(r.output.find((run / "best.safetensors").string()), std::string::npos) << r.output;
  // Resuming with other data (the run's config now points to a changed file).
  const fs::path other = write_melodies(dir, 7);
  fs::copy_file(other, data, fs::copy_options::overwrite_existing);
  r = run_command(kExe + " train -q --resume " + run.string() + " --epochs 2");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("differ"), std::string::npos) << r.output;
  // Not a run directory.
  r = run_command(kExe + " train --resume " + dir.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
  // An unknown device is a usage error.
  r = run_command(kExe + " train " + data.string() + " --device tpu --epochs 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--device"), std::string::npos) << r.output;
}
#endif

// The time check before a run starts (issue 14): a budget shorter than one batch is refused,
// naming the network, the work and the rate; without a budget a batch of a minute or more
// gets a note; anything shorter passes silently.
TEST(BatchTime, RefusesABudgetShorterThanOneBatch) {
  using melodl::pipeline::detail::check_batch_time;
  const double flops = 7.4e12;  // one batch of 2 x 8000, batch 32, window 50
  EXPECT_EQ(check_batch_time(flops, 1e11, 600.0, "training"), "");  // 74 s fits 10 min
  EXPECT_EQ(check_batch_time(1e12, 1e11, 0.0, "training"), "");     // 10 s, no budget
  const std::string note = check_batch_time(flops, 1e11, 0.0, "training");
  EXPECT_NE(note.find("one batch (7400 GFLOP) takes at least 74 s on this CPU (100 GFLOP/s at "
                      "best): progress, checkpoints and signals are handled only between batches"),
            std::string::npos)
      << note;
  try {
    check_batch_time(flops, 1e11, 5.0, "training (--hidden 8000)");
    FAIL() << "a 5 s budget for a 74 s batch was accepted";
  } catch (const melodl::InvalidArgument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("training (--hidden 8000): one batch (7400 GFLOP) takes at least 74 s"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("longer than the time budget of 5 s"), std::string::npos) << m;
  }
}
