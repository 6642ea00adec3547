// tests/lstm/checkpoint_test.cpp: Network/Trainer checkpoints: weights and optimiser state
// round-trip exactly; resuming mid-training continues bitwise identically to an
// uninterrupted run (same thread count); a checkpoint of another config or vocabulary
// gives a clear error; a damaged file is rejected; weights-only files cannot resume; a
// checkpoint written before the execution options left NetworkConfig (issue 13) still loads.
// Run: ctest --test-dir build -R Checkpoint
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "lstm/checkpoint.h"
#include "lstm/checkpoint_file.h"
#include "lstm_test_util.h"

namespace melodl::lstm {
namespace {

namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("melodl_lstm_ckpt_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

Trainer make_trainer(OptimizerKind kind, bool reset_state = true) {
  NetworkConfig cfg = test::small_config(9, 2, 12, true);
  TrainConfig tc;
  tc.optimizer.kind = kind;
  tc.optimizer.lr = kind == OptimizerKind::dl4j_rmsprop ? 0.1f : 0.01f;
  tc.optimizer.l2 = 0.001f;
  tc.tbptt_fwd = 5;
  tc.tbptt_bwd = 5;
  tc.reset_state_per_batch = reset_state;
  return Trainer(Network(cfg, test::on_cpu(2)), tc);
}

std::vector<float> params_of(const Trainer& t) {
  return {t.network().params().begin(), t.network().params().end()};
}

TEST(Checkpoint, ResumeIsBitwiseIdentical) {
  for (auto kind : {OptimizerKind::adam, OptimizerKind::dl4j_rmsprop, OptimizerKind::sgd,
                    OptimizerKind::rmsprop}) {
    // rmsprop also carries the recurrent state across batches, which the checkpoint saves
    const bool reset = kind != OptimizerKind::rmsprop;
    Trainer straight = make_trainer(kind, reset);
    Trainer first = make_trainer(kind, reset);
    const fs::path p = temp_path("resume.safetensors");
    for (int k = 0; k < 6; ++k) {
      // the data order comes from the trainer's RNG, which the checkpoint also carries
      const auto b1 = test::random_batch(15, 4, 9, straight.rng().next_u64());
      straight.train_batch(b1.view());
      if (k < 3) {
        const auto b2 = test::random_batch(15, 4, 9, first.rng().next_u64());
        first.train_batch(b2.view());
        if (k == 2) save_checkpoint(p, first, "vocab-abc", {{"epoch", "1"}});
      }
    }
    LoadedCheckpoint ck = load_checkpoint(p);
    EXPECT_EQ(ck.vocabulary, "vocab-abc");
    EXPECT_EQ(ck.extra.at("epoch"), "1");
    EXPECT_EQ(ck.step, 9);
    Trainer resumed = ck.make_trainer(test::on_cpu(2));
    EXPECT_EQ(resumed.step_count(), 9);
    for (int k = 3; k < 6; ++k) {
      const auto b = test::random_batch(15, 4, 9, resumed.rng().next_u64());
      resumed.train_batch(b.view());
    }
    EXPECT_TRUE(test::allclose(params_of(resumed), params_of(straight), 0, 0)) << to_string(kind);
    EXPECT_EQ(resumed.optimizer().slots(), straight.optimizer().slots());
  }
}

TEST(Checkpoint, WeightsOnlyRoundTripAndCannotResume) {
  Network net(test::small_config(7, 1, 5, false), test::on_cpu());
  const fs::path p = temp_path("weights.safetensors");
  save_checkpoint(p, net, "v");
  const LoadedCheckpoint ck = load_checkpoint(p);
  EXPECT_FALSE(ck.train_config.has_value());
  const Network back = ck.make_network();
  EXPECT_TRUE(test::allclose(std::vector<float>(back.params().begin(), back.params().end()),
                             std::vector<float>(net.params().begin(), net.params().end()), 0, 0));
  EXPECT_THROW(ck.make_trainer(), InvalidArgument);
  // named tensors as documented
  const CheckpointFile f = read_checkpoint_file(p);
  EXPECT_EQ(find_tensor(f, "layer0.W").shape, (std::vector<std::int64_t>{7, 20}));
  EXPECT_EQ(find_tensor(f, "layer0.R").shape, (std::vector<std::int64_t>{5, 20}));
  EXPECT_EQ(find_tensor(f, "out.W").shape, (std::vector<std::int64_t>{5, 7}));
  EXPECT_THROW(find_tensor(f, "layer0.p"), CheckpointError);  // peepholes off
}

TEST(Checkpoint, OtherConfigOrVocabularyGivesClearError) {
  Network net(test::small_config(7, 2, 5, true), test::on_cpu());
  const fs::path p = temp_path("compat.safetensors");
  save_checkpoint(p, net, "abcdefg");
  const LoadedCheckpoint ck = load_checkpoint(p);
  EXPECT_NO_THROW(ck.expect_compatible(net.config(), "abcdefg"));
  auto msg = [&](const NetworkConfig& c, const std::string& v) {
    try {
      ck.expect_compatible(c, v);
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  NetworkConfig other = net.config();
  other.hidden = 6;
  EXPECT_NE(msg(other, "abcdefg").find("hidden is 5 in the checkpoint but 6 was expected"),
            std::string::npos)
      << msg(other, "abcdefg");
  other = net.config();
  other.vocab = 8;
  EXPECT_NE(msg(other, "abcdefgh").find("vocab"), std::string::npos);
  EXPECT_NE(msg(net.config(), "abcdefX").find("vocabulary differs"), std::string::npos);
  EXPECT_NE(msg(net.config(), "abcdefX").find(p.string()), std::string::npos);
}

TEST(Checkpoint, DamagedOrForeignFilesAreRejected) {
  Network net(test::small_config(7, 1, 5, true), test::on_cpu());
  const fs::path p = temp_path("damaged.safetensors");
  save_checkpoint(p, net, "v");
  {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x5a');
  }
  EXPECT_THROW(load_checkpoint(p), CheckpointError);
  // a valid checkpoint file that is not an LSTM checkpoint
  CheckpointFile foreign;
  const std::vector<float> v = {1, 2};
  foreign.tensors.push_back(make_tensor("x", v, {2}));
  write_checkpoint_file(p, foreign);
  EXPECT_THROW(load_checkpoint(p), InvalidArgument);
  // an LSTM checkpoint with a tensor of the wrong shape
  CheckpointFile f = read_checkpoint_file((save_checkpoint(p, net, "v"), p));
  for (auto& t : f.tensors)
    if (t.name == "out.b") t = make_tensor("out.b", std::vector<float>(6, 0.0f), {6});
  write_checkpoint_file(p, f);
  EXPECT_THROW(load_checkpoint(p), InvalidArgument);
}

// A real checkpoint of `melodl train --threads 1` (1 x 8 LSTM, Adam, 52 updates) written
// before issue 13 moved device, threads and cuda_* out of NetworkConfig: its
// "lstm.network_config" still holds them. They are ignored (the caller's ExecutionOptions
// decide), the model and the training state load, and training continues.
TEST(Checkpoint, PreIssue13CheckpointLoads) {
  const fs::path p = fs::path(MELODL_LSTM_TEST_DATA) / "pre-issue13.safetensors";
  const CheckpointFile raw = read_checkpoint_file(p);
  ASSERT_NE(raw.metadata.at("lstm.network_config").find("\"device\":\"cpu\""), std::string::npos)
      << "the fixture must be an old-style checkpoint";
  const LoadedCheckpoint ck = load_checkpoint(p);
  EXPECT_EQ(ck.network_config.vocab, 46);
  EXPECT_EQ(ck.network_config.layers, 1);
  EXPECT_EQ(ck.network_config.hidden, 8);
  EXPECT_TRUE(ck.network_config.peepholes);
  EXPECT_EQ(ck.network_config.seed, 12350u);
  EXPECT_EQ(ck.network_config.to_json().find("device"), std::string::npos);
  EXPECT_EQ(ck.vocabulary.size(), 46u);
  EXPECT_EQ(ck.step, 52);
  ASSERT_TRUE(ck.train_config.has_value());
  EXPECT_EQ(ck.train_config->optimizer.kind, OptimizerKind::adam);
  EXPECT_EQ(ck.train_config->tbptt_fwd, 25);
  EXPECT_EQ(ck.extra.count("run_state"), 1u);
  // the parameters are the file's tensors, bit for bit
  const ParamLayout layout = ParamLayout::for_config(ck.network_config);
  for (const auto& t : layout.tensors) {
    const NamedTensor& nt = find_tensor(raw, t.name);
    const std::vector<float> v = as_floats(nt);
    ASSERT_EQ(v.size(), t.size()) << t.name;
    EXPECT_EQ(std::memcmp(v.data(), ck.params.data() + t.offset, v.size() * sizeof(float)), 0)
        << t.name;
  }
  const Network net = ck.make_network(test::on_cpu());
  EXPECT_EQ(net.device(), Device::cpu);
  State st = net.zero_state(2);
  const std::vector<std::int32_t> sym = {0, 45};
  std::vector<float> logits(2 * 46);
  net.step(sym, st, logits);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  Trainer tr = ck.make_trainer(test::on_cpu());
  EXPECT_EQ(tr.step_count(), 52);
  const auto batch = test::random_batch(25, 2, 46, 7);
  const StepStats s = tr.train_batch(batch.view());
  EXPECT_TRUE(std::isfinite(s.loss_sum));
  EXPECT_EQ(tr.step_count(), 53);
  // saved again, the model metadata holds no execution choice
  const fs::path q = temp_path("resaved.safetensors");
  save_checkpoint(q, tr, ck.vocabulary, ck.extra);
  const std::string cfg = read_checkpoint_file(q).metadata.at("lstm.network_config");
  for (const char* key :
       {"device", "threads", "cuda_math", "cuda_persistent", "cuda_graphs", "cuda_wavefront"})
    EXPECT_EQ(cfg.find(key), std::string::npos) << key << " in " << cfg;
  EXPECT_EQ(load_checkpoint(q).step, 53);
}

TEST(Checkpoint, WeightsInF16AndBf16LoadWidenedAndCloseToFloat) {
  Network net(test::small_config(7, 2, 6, true), test::on_cpu());
  const fs::path p32 = temp_path("w32.safetensors");
  save_checkpoint(p32, net, "v");
  for (DType d : {DType::f16, DType::bf16}) {
    const fs::path p = temp_path(std::string("w_") + std::string(dtype_name(d)) + ".safetensors");
    save_checkpoint(p, net, "v", {{"card", "x"}}, {}, d);
    // Half the bytes of the weights (the header is the same size give or take).
    EXPECT_LT(fs::file_size(p), fs::file_size(p32));
    const CheckpointFile f = read_checkpoint_file(p);
    EXPECT_EQ(find_tensor(f, "layer1.R").dtype, d);
    const LoadedCheckpoint ck = load_checkpoint(p);
    EXPECT_EQ(ck.extra.at("card"), "x");
    const Network back = ck.make_network();
    const std::vector<float> a(net.params().begin(), net.params().end());
    const std::vector<float> b(back.params().begin(), back.params().end());
    ASSERT_EQ(a.size(), b.size());
    const float rel = d == DType::f16 ? 0x1p-11f : 0x1p-8f;
    std::size_t changed = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      ASSERT_NEAR(b[i], a[i], std::abs(a[i]) * rel + 0x1p-25f) << i;
      changed += a[i] != b[i];
    }
    EXPECT_GT(changed, 0u);  // it was rounded, not stored as float
  }
}

}  // namespace
}  // namespace melodl::lstm
