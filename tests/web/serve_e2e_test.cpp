// tests/web/serve_e2e_test.cpp: end to end, `melodl serve` with a melody, a harmony and a
// style-conditioned melody model (random networks) and headless Chromium loading
// compose.html?selftest=1. The page's self-test (web/static/compose.js) picks the melody model,
// plays five notes on the virtual keyboard, composes, checks that the piano roll shows the primer
// and new notes, plays the result (the audio clock runs, notes sound), downloads the MIDI, runs one
// round of call and response, composes two voices with the harmony model, composes in a style
// picked from the styled model's menu (hidden for the others), and plays keys from the computer
// keyboard (one Tab stop, arrows reach the black keys, Enter and Space play them, every key
// labelled for screen readers), then POSTs its results, which
// melodl prints and this test reads. The test then reads the page's MIDI back with our
// reader (it starts with the primer), takes a screenshot (build/tests/serve/
// serve-screenshot.png; docs/serve-screenshot.png is one) and stops the server with SIGTERM.
// Skipped when Chromium is not installed (apt-get install chromium; MELODL_CHROMIUM=path
// overrides). Run: ctest -R ServeE2e --output-on-failure
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "midi/reader.h"
#include "tests/web/e2e_util.h"
#include "tests/web/raw_http.h"
#include "tests/web/serve_models.h"

using namespace melodl::web::testing;  // NOLINT(google-build-using-namespace): test helpers

namespace {

// GETs `path` from the server at `base` (http://127.0.0.1:PORT/) into `file`; the status.
int download(const std::string& base, const std::string& path, const fs::path& file) {
  const std::string hostport = base.substr(7, base.size() - 8);
  const int port = std::stoi(hostport.substr(hostport.rfind(':') + 1));
  const std::string raw = exchange(port, request_text("GET", path, hostport), 30);
  const auto at = raw.find("\r\n\r\n");
  if (at != std::string::npos) std::ofstream(file, std::ios::binary) << raw.substr(at + 4);
  return status_of(raw);
}

}  // namespace

TEST(ServeE2e, ChromiumPlaysAPrimerComposesListensAndDownloads) {
  const std::string chromium = find_chromium();
  if (chromium.empty())
    GTEST_SKIP() << "chromium not installed (apt-get install chromium, or set MELODL_CHROMIUM)";
  const fs::path dir = fs::path(MELODL_BINARY_DIR) / "tests" / "serve" / "e2e";
  fs::remove_all(dir);
  fs::create_directories(dir / "models");
  save_model(dir / "models", "bach-melodies", melodl::pipeline::LineKind::melody, 32);
  save_model(dir / "models", "bach-harmonies", melodl::pipeline::LineKind::harmony, 32);
  save_model(dir / "models", "composers", melodl::pipeline::LineKind::melody, 32,
             {"bach", "folk", "mozart"});

  const fs::path log = dir / "serve.log";
  const pid_t serve = spawn({MELODL_EXE, "serve", (dir / "models").string(), "--port", "0"}, log);
  ASSERT_GT(serve, 0);
  const std::string line = wait_for_line(log, "melodl serve: serving on ", 60, serve);
  ASSERT_FALSE(line.empty()) << "no URL printed; log:\n" << slurp(log);
  const std::string base = line.substr(0, line.find(' '));
  EXPECT_EQ(base.rfind("http://127.0.0.1:", 0), 0u) << "bound to loopback by default: " << base;

  // 1. The page's self-test, reported back through the server.
  const std::string report = run_selftest(chromium, base + "compose.html?selftest=1", dir, log,
                                          "melodl serve: page report: ", 120, serve,
                                          {"--autoplay-policy=no-user-gesture-required"});
  ASSERT_FALSE(report.empty()) << "no page report; melodl log:\n"
                               << slurp(log) << "\nchromium log:\n"
                               << slurp(dir / "chromium1.log");
  const auto j = nlohmann::json::parse(report);
  for (const auto& c : j.at("checks"))
    EXPECT_TRUE(c.at("ok").get<bool>()) << c.at("name") << ": " << c.at("detail");
  EXPECT_GE(j.at("checks").size(), 16u);  // with the keyboard-access and style-menu checks
  EXPECT_TRUE(j.at("ok").get<bool>()) << report;

  // 2. The MIDI the page downloaded reads back and starts with the five notes played.
  ASSERT_TRUE(j.contains("midi")) << report;
  ASSERT_EQ(download(base, j.at("midi"), dir / "melody.mid"), 200);
  const auto song = melodl::midi::read_file(dir / "melody.mid");
  ASSERT_TRUE(song) << song.error().what();
  const auto& notes = song->tracks.back().notes;
  ASSERT_GT(notes.size(), 5u);
  const int primer[] = {60, 62, 64, 65, 67};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(notes[static_cast<std::size_t>(i)].pitch, primer[i]);
  ASSERT_TRUE(j.contains("harmony_midi")) << report;
  ASSERT_EQ(download(base, j.at("harmony_midi"), dir / "harmony.mid"), 200);
  const auto duet = melodl::midi::read_file(dir / "harmony.mid");
  ASSERT_TRUE(duet) << duet.error().what();
  std::size_t tracks_with_notes = 0;
  for (const auto& t : duet->tracks) tracks_with_notes += t.notes.empty() ? 0 : 1;
  EXPECT_EQ(tracks_with_notes, 2u) << "a harmony model's two voices";

  // 3. A screenshot of the page after composing from a primer (compose.html?demo=1).
  const fs::path shot = fs::path(MELODL_BINARY_DIR) / "tests" / "serve" / "serve-screenshot.png";
  EXPECT_TRUE(screenshot(chromium, base + "compose.html?demo=1", shot, dir))
      << "no screenshot; chromium log:\n"
      << slurp(dir / "chromium-shot.log");
  std::printf("screenshot: %s\n", shot.c_str());

  // 4. SIGTERM stops the server cleanly.
  EXPECT_EQ(stop(serve, SIGTERM, 30), 0) << slurp(log);
}
