// examples/progress.cpp: see progress.h.
#include "examples/progress.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace melodl::cli {

bool Progress::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, std::size_t total, bool quiet)
    : label_(std::move(label)), total_(total), quiet_(quiet), tty_(stderr_is_terminal()) {}

Progress::~Progress() { finish(); }

void Progress::set_total(std::size_t total) {
  std::lock_guard<std::mutex> lock(mutex_);
  total_ = total;
}

void Progress::update(std::size_t done, std::string_view current) {
  if (quiet_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_ || total_ == 0) return;
  if (done > total_) done = total_;
  const int percent = static_cast<int>(100 * done / total_);
  const auto now = std::chrono::steady_clock::now();
  if (!tty_) {
    // Logs: a plain line every 2 s, so short runs print nothing and long ones stay short.
    if (last_draw_ == std::chrono::steady_clock::time_point{}) last_draw_ = now;
    if (now - last_draw_ < std::chrono::seconds(2)) return;
    last_draw_ = now;
    std::fprintf(stderr, "%s: %zu/%zu (%d%%)\n", label_.c_str(), done, total_, percent);
    std::fflush(stderr);
    return;
  }
  if (drawn_ && done < total_ && now - last_draw_ < std::chrono::milliseconds(50)) return;
  last_draw_ = now;
  drawn_ = true;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * done / total_);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), '.');
  // Keep the current name short so the line does not wrap on an 80-column terminal.
  std::string name(current);
  if (name.size() > 32) name = "..." + name.substr(name.size() - 29);
  std::fprintf(stderr, "\r\033[K%s [%s] %zu/%zu %3d%% %s", label_.c_str(), bar.c_str(), done,
               total_, percent, name.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (tty_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

}  // namespace melodl::cli
