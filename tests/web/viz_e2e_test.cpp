// tests/web/viz_e2e_test.cpp: end to end, `melodl train --viz 0` on a tiny model of
// data/bach with headless Chromium loading index.html?selftest=1. The page's self-test
// (web/static/app.js) checks that spheres and the loss chart update, moves the
// sensitivity slider, pauses and checks that no step happens for 2.5 s, sets the learning
// rate (bad values refused with HTTP 400, a good one pending until the training loop takes
// it and then carried by the next snapshot), single-steps, resumes, and POSTs its results,
// which melodl prints and this test reads. Then Chromium
// takes a screenshot (build/tests/web/viz-screenshot.png; docs/viz-screenshot.png is one).
// Skipped when Chromium is not installed (apt-get install chromium; MELODL_CHROMIUM=path
// overrides). Run: ctest -R VizE2e --output-on-failure
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/web/e2e_util.h"

using namespace melodl::web::testing;  // NOLINT(google-build-using-namespace): test helpers

namespace {

// Whether `melodl train` applies the page's learning-rate requests (it polls
// VizListener::take_requested_lr() after each update). Until it does, the page's
// "lr applied" check is reported but not required.
constexpr bool kTrainAppliesRequestedLr = true;

}  // namespace

TEST(VizE2e, ChromiumWatchesTrainingPausesAndResumes) {
  const std::string chromium = find_chromium();
  if (chromium.empty())
    GTEST_SKIP() << "chromium not installed (apt-get install chromium, or set MELODL_CHROMIUM)";
  const fs::path data = fs::path(MELODL_SOURCE_DIR) / "data" / "bach";
  ASSERT_TRUE(fs::exists(data)) << data;
  const fs::path dir = fs::path(MELODL_BINARY_DIR) / "tests" / "viz" / "e2e";
  fs::remove_all(dir);
  fs::create_directories(dir);

  const fs::path train_log = dir / "train.log";
  const pid_t train = spawn_tiny_viz_training(MELODL_EXE, data, dir, train_log,
                                              {"--time-budget", "150s", "--samples-per-epoch", "2",
                                               "--sample-length", "120", "--viz-rate", "20"});
  ASSERT_GT(train, 0);
  const std::string url = wait_for_line(train_log, "melodl viz: serving on ", 90, train);
  ASSERT_FALSE(url.empty()) << "no URL printed; log:\n" << slurp(train_log);
  const std::string base = url.substr(0, url.find(' '));

  // 1. The page's self-test, reported back through the server.
  const std::string report = run_selftest(chromium, base + "?selftest=1", dir, train_log,
                                          "melodl viz: page report: ", 150, train);
  ASSERT_FALSE(report.empty()) << "no page report; melodl log:\n"
                               << slurp(train_log) << "\nchromium log:\n"
                               << slurp(dir / "chromium1.log");
  const auto j = nlohmann::json::parse(report);
  bool all_required_ok = true;
  for (const auto& c : j.at("checks")) {
    if (!kTrainAppliesRequestedLr && c.at("name") == "lr applied") {
      std::printf("note: not required yet: %s: %s\n", c.at("ok").get<bool>() ? "ok" : "FAILED",
                  c.at("detail").get<std::string>().c_str());
      continue;
    }
    all_required_ok &= c.at("ok").get<bool>();
    EXPECT_TRUE(c.at("ok").get<bool>()) << c.at("name") << ": " << c.at("detail");
  }
  EXPECT_GE(j.at("checks").size(), 15u);  // with the token and compose-now checks
  EXPECT_TRUE(all_required_ok) << report;

  // 2. A screenshot of the page (still view of the latest snapshot, one sphere selected).
  const fs::path shot = fs::path(MELODL_BINARY_DIR) / "tests" / "viz" / "viz-screenshot.png";
  EXPECT_TRUE(screenshot(chromium, base + "?nostream=1&select=70", shot, dir))
      << "no screenshot; chromium log:\n"
      << slurp(dir / "chromium-shot.log");
  std::printf("screenshot: %s\n", shot.c_str());

  // 3. Ctrl-C ends the training cleanly (checkpoint, exit code 130) with the server on.
  EXPECT_EQ(stop(train, SIGINT, 60), 130) << slurp(train_log);
}
