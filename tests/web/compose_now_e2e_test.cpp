// tests/web/compose_now_e2e_test.cpp: the live view's "compose now" end to end: `melodl
// train --viz 0` on a tiny model of data/bach; POST /api/compose-now (with the page's token)
// answers a melody whose notes and MIDI file (read back with our reader) agree, from the
// weights of an update of this run; bad fields are 400 naming the field; a foreign Origin
// and a POST without the token are refused. Then headless Chromium loads
// index.html?selftest=composenow: the page focuses the "Compose now" button, clicks it and
// checks that notes arrive, that the piano roll draws them (pixels of the note colour on the
// canvas) and that the MIDI download link is set; it reports back through the server. The
// Chromium half is skipped, with the reason, when Chromium is not installed (apt-get install
// chromium; MELODL_CHROMIUM=path overrides). Ctrl-C still ends the run cleanly.
// Run: ctest -R ComposeNowE2e --output-on-failure
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/web/e2e_util.h"
#include "tests/web/raw_http.h"
#include "web/compose_request.h"
#include "web/server.h"

using namespace melodl::web::testing;  // NOLINT(google-build-using-namespace): test helpers

TEST(ComposeNowE2e, TrainingRunComposesFromItsCurrentWeights) {
  const fs::path data = fs::path(MELODL_SOURCE_DIR) / "data" / "bach";
  ASSERT_TRUE(fs::exists(data)) << data;
  const fs::path dir = fs::path(MELODL_BINARY_DIR) / "tests" / "viz" / "compose-now";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path log = dir / "train.log";
  const pid_t train = spawn_tiny_viz_training(
      MELODL_EXE, data, dir, log,
      {"--time-budget", "120s", "--samples-per-epoch", "1", "--sample-length", "60"});
  ASSERT_GT(train, 0);
  const std::string line = wait_for_line(log, "melodl viz: serving on ", 90, train);
  ASSERT_FALSE(line.empty()) << "no URL printed; log:\n" << slurp(log);
  const std::string url = line.substr(0, line.find(' '));  // http://127.0.0.1:PORT/
  const int port = std::atoi(url.c_str() + url.rfind(':') + 1);
  const std::string host = "127.0.0.1:" + std::to_string(port);

  const std::string page = melodl::web::testing::exchange(port, request_text("GET", "/", host));
  const std::string slot = "<meta name=\"melodl-token\" content=\"";
  const auto at = page.find(slot);
  ASSERT_NE(at, std::string::npos) << page.substr(0, 400);
  const std::string token = page.substr(at + slot.size(), 32);
  const std::string auth = std::string(melodl::web::kTokenHeader) + ": " + token + "\r\n";
  const auto post = [&](const std::string& extra, const std::string& body) {
    return melodl::web::testing::exchange(
        port, request_text("POST", "/api/compose-now", host, extra, body), 60);
  };
  const auto body_of = [](const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); };

  // A melody from this run's weights, its notes and MIDI file in agreement.
  std::string answer;
  for (int tries = 0; tries < 20; ++tries) {  // 503 while the run validates or samples
    answer = post(auth, R"({"seed": 7, "length": 120})");
    if (status_of(answer) != 503) break;
  }
  ASSERT_EQ(status_of(answer), 200) << answer << "\nlog:\n" << slurp(log);
  const auto j = nlohmann::json::parse(body_of(answer));
  EXPECT_EQ(j.at("model"), "training");
  EXPECT_EQ(j.at("kind"), "melody");
  EXPECT_GE(j.at("step").get<long long>(), 1);
  ASSERT_EQ(j.at("pieces").size(), 1u);
  const auto& notes = j.at("pieces")[0].at("notes");
  ASSERT_GT(notes.size(), 0u) << answer;
  const std::string midi = j.at("midi").get<std::string>();
  const std::string prefix = "data:audio/midi;base64,";
  ASSERT_EQ(midi.rfind(prefix, 0), 0u) << midi.substr(0, 60);
  melodl::web::RequestLimits limits;
  limits.max_primer_notes = 100000;
  limits.max_primer_s = 1e6;
  const auto read_back = melodl::web::primer_from_midi(midi.substr(prefix.size()), limits);
  ASSERT_EQ(read_back.size(), notes.size()) << "the MIDI file holds the notes drawn";
  EXPECT_EQ(read_back.front().pitch, notes[0].at("pitch").get<int>());
  EXPECT_EQ(read_back.back().pitch, notes.back().at("pitch").get<int>());

  // Checked fields, refused routes.
  const std::string many = post(auth, R"({"count": 3})");
  EXPECT_EQ(status_of(many), 400) << many;
  EXPECT_NE(body_of(many).find("count"), std::string::npos) << many;
  EXPECT_EQ(status_of(post(auth, R"({"model": "x"})")), 400);
  EXPECT_EQ(status_of(post(auth, "not json")), 400);
  EXPECT_EQ(status_of(post("Origin: http://evil.example\r\n", "{}")), 403);
  EXPECT_EQ(status_of(post("", "{}")), 403) << "no Origin, no token";
  EXPECT_EQ(status_of(post("Origin: http://" + host + "\r\n", "{}")), 200) << "same origin";

  // The page: the button, clicked, fills the piano roll.
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    EXPECT_EQ(stop(train, SIGINT, 60), 130) << slurp(log);
    GTEST_SKIP() << "the page's half: chromium not installed (apt-get install chromium, or set "
                    "MELODL_CHROMIUM); the HTTP half above ran";
  }
  const std::string report = run_selftest(chromium, url + "?selftest=composenow", dir, log,
                                          "melodl viz: page report: ", 90, train);
  ASSERT_FALSE(report.empty()) << "no page report; melodl log:\n"
                               << slurp(log) << "\nchromium log:\n"
                               << slurp(dir / "chromium1.log");
  const auto r = nlohmann::json::parse(report);
  for (const auto& c : r.at("checks"))
    EXPECT_TRUE(c.at("ok").get<bool>()) << c.at("name") << ": " << c.at("detail");
  EXPECT_GE(r.at("checks").size(), 5u) << report;
  EXPECT_TRUE(r.at("ok").get<bool>()) << report;

  EXPECT_EQ(stop(train, SIGINT, 60), 130) << slurp(log);
}
