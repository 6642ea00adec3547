// examples/progress.h: progress reporting on stderr for long melodl runs. On a
// terminal, a bar redrawn in place (at most 20 times a second); otherwise (a log, a
// pipe, CI) a plain line every 2 seconds, so logs stay short. Quiet prints nothing.
// Thread-safe: workers may call update() concurrently.
//
// Example:
//   melodl::cli::Progress bar("extract", files.size(), quiet);
//   for (...) bar.update(++done, file.string());
//   bar.finish();
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

namespace melodl::cli {

class Progress {
 public:
  Progress(std::string label, std::size_t total, bool quiet);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // The number of items, once known (a bar made with total 0 shows nothing until then).
  void set_total(std::size_t total);
  // `done` items of `total` finished; `current` names the latest one.
  void update(std::size_t done, std::string_view current = {});
  // Clears the bar (terminal) and prints nothing more; idempotent.
  void finish();

  static bool stderr_is_terminal();

 private:
  std::mutex mutex_;
  std::string label_;
  std::size_t total_;
  bool quiet_;
  bool tty_;
  bool finished_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace melodl::cli
