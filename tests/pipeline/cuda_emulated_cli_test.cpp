// tests/pipeline/cuda_emulated_cli_test.cpp: `melodl train --device cuda` end to end on the host
// emulation of the CUDA backend (melodl_cuda_emulated: the melodl program with the emulated
// lstm objects of tests/lstm/cuda_emulation.cpp; label cpu, runs without a GPU). What it
// checks is the pipeline's use of the device backend: a training run with checkpoints and
// per-epoch samples, resume, the --cuda-* options (graphs, wavefront, persistent layers),
// compose and eval from a device-trained run, and that it learns what the CPU backend learns
// (the emulated kernels are the float references, so the two runs differ by rounding only).
// The kernels themselves are tested on a GPU by the label-cuda tests.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train_test_util.h"

namespace melodl::train_test {
namespace {

namespace fs = std::filesystem;

const std::string kEmulated = MELODL_EMULATED_EXE;
const std::string kExe = MELODL_EXE;

fs::path write_melodies(const fs::path& dir) {
  std::string text = "// melodl melodies format=native version=1\n";
  for (const auto& e : make_entries(8, 8, 3))
    text +=
        "// track=0 channel=0 program=0 voice=top start_pitch=60 unit_ticks=60 unit_s=0.1 source=" +
        e.source + "\n" + e.text + "\n";
  const fs::path p = dir / "melodies.txt";
  std::ofstream(p) << text;
  return p;
}

// --recurrent-dropout 0: its default is 0.25 on the CPU backend and 0 on CUDA (which has none
// yet); the CPU and device runs compared below must train the same way.
const char* kFlags =
    " --layers 2 --hidden 12 --window 60 --tbptt 20 --batch 4 --threads 1 --seed 5"
    " --checkpoint-every 0 --samples-per-epoch 1 --sample-length 40 --recurrent-dropout 0 -q";

std::vector<double> valid_bits(const fs::path& run) {
  std::ifstream in(run / "manifest.json");
  const auto j = nlohmann::json::parse(in);
  std::vector<double> out;
  for (const auto& e : j.at("epochs")) out.push_back(e.at("valid_bits_per_symbol").get<double>());
  return out;
}

TEST(TrainCudaEmulated, TrainResumeComposeEvalOnTheDeviceBackend) {
  const auto dir = temp_dir("cuda-emulated");
  const fs::path data = write_melodies(dir);
  // the same run on the CPU backend (the real program) and on the emulated device
  const fs::path cpu = dir / "cpu", gpu = dir / "gpu";
  const auto c = run_command(kExe + " train " + data.string() + kFlags +
                             " --epochs 3 --device cpu --run-dir " + cpu.string());
  ASSERT_EQ(c.code, 0) << c.output;
  const auto g =
      run_command(kEmulated + " train " + data.string() + kFlags +
                  " --epochs 2 --device cuda --cuda-math fp32 --run-dir " + gpu.string());
  ASSERT_EQ(g.code, 0) << g.output;
  // resumed for a third epoch, now with graphs and the wavefront (runtime choices)
  const auto r = run_command(kEmulated + " train -q --resume " + gpu.string() +
                             " --epochs 3 --cuda-graphs --cuda-wavefront 7");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto vc = valid_bits(cpu), vg = valid_bits(gpu);
  ASSERT_EQ(vc.size(), 3u);
  ASSERT_EQ(vg.size(), 3u);
  for (std::size_t k = 0; k < vc.size(); ++k)
    EXPECT_NEAR(vg[k], vc[k], 2e-3 * vc[k]) << "epoch " << k + 1 << ": device vs CPU";
  EXPECT_LT(vg.back(), vg.front()) << "the device run did not learn";
  EXPECT_TRUE(fs::exists(gpu / "samples" / "epoch-003" / "sample-01.mid"));
  EXPECT_TRUE(fs::exists(gpu / "composition.txt"));

  // compose and eval read the device-trained run (they compute on the CPU)
  const auto co = run_command(kEmulated + " compose " + gpu.string() +
                              " --count 4 --length 60 -o " + (dir / "out").string());
  ASSERT_EQ(co.code, 0) << co.output;
  EXPECT_NE(co.output.find("decoded cleanly: 4/4"), std::string::npos) << co.output;
  const auto ev = run_command(kEmulated + " eval " + gpu.string() + " --data " + data.string() +
                              " --samples 2 --json");
  ASSERT_EQ(ev.code, 0) << ev.output;
  EXPECT_GT(nlohmann::json::parse(ev.output)["model"]["bits_per_note"].get<double>(), 0.0);

  // the persistent layers and bf16 math take their device paths too; bench reports them
  const auto p = run_command(kEmulated + " train " + data.string() + kFlags +
                             " --epochs 1 --device cuda --cuda-persistent --cuda-math bf16"
                             " --run-dir " +
                             (dir / "persistent").string());
  ASSERT_EQ(p.code, 0) << p.output;
  EXPECT_EQ(valid_bits(dir / "persistent").size(), 1u);
  const auto b = run_command(kEmulated +
                             " bench --device cuda --layers 2 --hidden 8 --batch 4 --tbptt 10"
                             " --iters 2 --warmup 1 --sample-length 20 --cuda-graphs");
  ASSERT_EQ(b.code, 0) << b.output;
  const auto bj = nlohmann::json::parse(b.output);
  EXPECT_EQ(bj["device"], "cuda");
  EXPECT_EQ(bj["cuda_graphs"], true);
  EXPECT_GT(bj["train_symbols_per_s"].get<double>(), 0.0);
}

}  // namespace
}  // namespace melodl::train_test
