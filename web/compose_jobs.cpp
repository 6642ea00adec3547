// web/compose_jobs.cpp: see compose_jobs.h.
#include "web/compose_jobs.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "base/error.h"
#include "base/files.h"
#include "midi/writer.h"

namespace melodl::web::detail {

namespace fs = std::filesystem;

namespace {

std::string random_hex32() {
  std::random_device rd;
  char buf[33];
  for (int i = 0; i < 4; ++i) std::snprintf(buf + 8 * i, 9, "%08x", static_cast<unsigned>(rd()));
  return std::string(buf, 32);
}

}  // namespace

WorkPool::WorkPool(int workers, int capacity) : workers_(workers), capacity_(capacity) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

WorkPool::~WorkPool() { stop(); }

void WorkPool::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    jobs_.clear();  // their waiters time out or are gone with the server
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

bool WorkPool::try_submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || jobs_.size() >= static_cast<std::size_t>(capacity_)) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

int WorkPool::retry_after_s() const {
  std::lock_guard lock(mu_);
  const double wait = mean_job_s_ * static_cast<double>(jobs_.size() + 1) / workers_;
  return std::max(1, static_cast<int>(std::ceil(wait)));
}

void WorkPool::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    const auto t0 = std::chrono::steady_clock::now();
    job();  // jobs catch their own exceptions
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard lock(mu_);
    mean_job_s_ = 0.8 * mean_job_s_ + 0.2 * s;
  }
}

ResultStore::ResultStore(fs::path root, bool owned, std::chrono::seconds ttl,
                         std::size_t max_results)
    : root_(std::move(root)), owned_(owned), ttl_(ttl), max_results_(max_results) {
  ensure_directory(root_);
}

ResultStore::~ResultStore() {
  std::error_code ec;
  if (owned_) {
    fs::remove_all(root_, ec);
    return;
  }
  for (const auto& [id, r] : results_) fs::remove_all(r->dir, ec);
}

std::string ResultStore::file_name(std::size_t piece, const char* ext) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "piece-%02zu.%s", piece + 1, ext);
  return buf;
}

std::shared_ptr<StoredResult> ResultStore::add(std::vector<midi::Song> songs) {
  auto r = std::make_shared<StoredResult>();
  r->id = random_hex32();
  r->dir = root_ / r->id;
  r->songs = std::move(songs);
  r->created = std::chrono::steady_clock::now();
  ensure_directory(r->dir);
  for (std::size_t k = 0; k < r->songs.size(); ++k)
    midi::write_file(r->dir / file_name(k, "mid"), r->songs[k]);
  std::lock_guard lock(mu_);
  results_[r->id] = r;
  order_.push_back(r->id);
  expire_locked();
  return r;
}

std::shared_ptr<StoredResult> ResultStore::find(const std::string& id) {
  std::lock_guard lock(mu_);
  expire_locked();
  const auto it = results_.find(id);
  return it == results_.end() ? nullptr : it->second;
}

void ResultStore::expire_locked() {
  const auto now = std::chrono::steady_clock::now();
  while (!order_.empty()) {
    const auto it = results_.find(order_.front());
    if (order_.size() <= max_results_ && now - it->second->created < ttl_) break;
    std::error_code ec;
    fs::remove_all(it->second->dir, ec);  // a download in progress keeps its open file
    results_.erase(it);
    order_.pop_front();
  }
}

fs::path make_temp_folder() {
  const fs::path dir = fs::temp_directory_path() / ("melodl-serve-" + std::to_string(::getpid()) +
                                                    "-" + random_hex32().substr(0, 8));
  std::error_code ec;
  if (!fs::create_directory(dir, ec) || ec)
    throw IoError(dir.string() + ": cannot create the folder for generated files: " + ec.message());
  return dir;
}

}  // namespace melodl::web::detail
