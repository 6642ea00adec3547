// tests/web/e2e_util.h: running the melodl program and headless Chromium for the web
// end-to-end tests (viz_e2e_test.cpp, serve_e2e_test.cpp, compose_now_e2e_test.cpp).
// Test-only.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace melodl::web::testing {

namespace fs = std::filesystem;

inline std::string find_chromium() {
  if (const char* env = std::getenv("MELODL_CHROMIUM"); env && *env) return env;
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(p)) return p;
  return {};
}

inline pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// `exe train` of a tiny network (1 x 24, batch 8, window 80, TBPTT 40, 1 thread) on
// `data`, run dir dir/run, live view on a free port (--viz 0), quiet, output in `log`;
// `extra` (time budget, samples, ...) is appended.
inline pid_t spawn_tiny_viz_training(const std::string& exe, const fs::path& data,
                                     const fs::path& dir, const fs::path& log,
                                     const std::vector<std::string>& extra) {
  std::vector<std::string> args = {exe,
                                   "train",
                                   data.string(),
                                   "--layers",
                                   "1",
                                   "--hidden",
                                   "24",
                                   "--batch",
                                   "8",
                                   "--window",
                                   "80",
                                   "--tbptt",
                                   "40",
                                   "--threads",
                                   "1",
                                   "--checkpoint-every",
                                   "10m",
                                   "--run-dir",
                                   (dir / "run").string(),
                                   "--viz",
                                   "0",
                                   "--patience",  // no early stop: the tests stop the run
                                   "0",
                                   "--lr-schedule",  // the rate changes only when the page asks
                                   "constant",
                                   "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  return spawn(args, log);
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The rest of the first line of `file` after `marker`, waiting up to `seconds`.
inline std::string wait_for_line(const fs::path& file, const std::string& marker, double seconds,
                                 pid_t alive) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    const std::string text = slurp(file);
    const auto at = text.find(marker);
    if (at != std::string::npos) {
      const auto eol = text.find('\n', at);
      if (eol != std::string::npos)
        return text.substr(at + marker.size(), eol - at - marker.size());
    }
    int status = 0;
    if (alive > 0 && waitpid(alive, &status, WNOHANG) == alive) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return {};
}

inline int stop(pid_t pid, int sig, double seconds) {
  kill(pid, sig);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -2;
}

inline std::vector<std::string> chromium_args(const std::string& chromium,
                                              const fs::path& profile) {
  return {chromium,
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--disable-dev-shm-usage",
          "--mute-audio",
          "--window-size=1400,860",
          "--user-data-dir=" + profile.string()};
}

// Headless Chromium's screenshot of `url` into `shot` (after 5 s of virtual time), with
// its own profile and log under `dir`; returns false (and nothing at `shot`) when it failed.
inline bool screenshot(const std::string& chromium, const std::string& url, const fs::path& shot,
                       const fs::path& dir) {
  fs::remove(shot);
  auto args = chromium_args(chromium, dir / "profile-shot");
  args.push_back("--screenshot=" + shot.string());
  args.push_back("--virtual-time-budget=5000");
  args.push_back(url);
  const pid_t shooter = spawn(args, dir / "chromium-shot.log");
  if (shooter <= 0) return false;
  int status = 0;
  for (int i = 0; i < 600 && waitpid(shooter, &status, WNOHANG) != shooter; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  kill(shooter, SIGKILL);
  waitpid(shooter, &status, WNOHANG);
  return fs::exists(shot) && fs::file_size(shot) > 20000;
}

// Opens `url` (a page's ?selftest=1) in headless Chromium (with `extra` flags; profile and
// log chromium1.log under `dir`) until the program `pid` writes `marker` to `log`, then
// closes it; returns the rest of that line, "" when none came within `seconds`.
inline std::string run_selftest(const std::string& chromium, const std::string& url,
                                const fs::path& dir, const fs::path& log, const std::string& marker,
                                double seconds, pid_t pid,
                                const std::vector<std::string>& extra = {}) {
  auto args = chromium_args(chromium, dir / "profile1");
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--remote-debugging-port=0");  // keeps headless Chromium running
  args.push_back(url);
  const pid_t browser = spawn(args, dir / "chromium1.log");
  if (browser <= 0) return {};
  const std::string report = wait_for_line(log, marker, seconds, pid);
  stop(browser, SIGTERM, 10);
  return report;
}

}  // namespace melodl::web::testing
