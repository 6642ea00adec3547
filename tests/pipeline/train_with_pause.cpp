// tests/pipeline/train_with_pause.cpp: a test-only program for the kill -9 test of
// run_test.cpp: the training of `melodl train` (pipeline::TrainSession) with a pause after
// each checkpoint file is written and before `latest` names it, so that kills land inside
// checkpoints. Not installed.
// Usage: train_with_pause PAUSE_MS CONFIG_RUN_DIR RUN_DIR
//   starts RUN_DIR with the configuration of CONFIG_RUN_DIR (a run of `melodl train`), or
//   resumes RUN_DIR when it holds a config.json; exits 0 when the run is finished.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>

#include "pipeline/run_config.h"
#include "pipeline/train_session.h"

namespace pl = melodl::pipeline;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: train_with_pause PAUSE_MS CONFIG_RUN_DIR RUN_DIR\n");
    return 2;
  }
  try {
    const std::chrono::milliseconds pause(std::stoll(argv[1]));
    const fs::path run_dir = argv[3];
    const bool resuming = fs::exists(run_dir / "config.json");
    const pl::RunConfig config = pl::read_run_config(resuming ? run_dir : fs::path(argv[2]));
    pl::TrainSession session = resuming ? pl::TrainSession::resume(run_dir, config, 0, 1)
                                        : pl::TrainSession::start(run_dir, config, 1);
    pl::TrainCallbacks cb;
    cb.checkpoint_written = [&](const fs::path&) { std::this_thread::sleep_for(pause); };
    const std::atomic<bool> never{false};
    return session.run(never, cb).end == pl::RunEnd::finished ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_with_pause: %s\n", e.what());
    return 1;
  }
}
