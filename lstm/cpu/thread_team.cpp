// lstm/cpu/thread_team.cpp: ThreadTeam (see thread_team.h).
#include "lstm/cpu/thread_team.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MELODL_PAUSE() _mm_pause()
#else
#define MELODL_PAUSE() ((void)0)
#endif

namespace melodl::lstm::cpu {

namespace {
constexpr int kSpinBeforeSleep = 1 << 14;  // ~50-100 us of spinning before a worker sleeps
constexpr int kSpinBeforeYield = 1 << 12;  // barrier: spin, then yield (busy machine)
}  // namespace

ThreadTeam::ThreadTeam(int threads) : n_(std::max(1, threads)) {
  for (int t = 1; t < n_; ++t) threads_.emplace_back([this, t] { worker(t); });
}

ThreadTeam::~ThreadTeam() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadTeam::worker(int tid) {
  unsigned seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinBeforeSleep) {
      MELODL_PAUSE();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    try {
      (*job_)(tid);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadTeam::run(const std::function<void(int)>& fn) {
  if (n_ == 1) {
    fn(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    error_ = nullptr;
    pending_.store(n_ - 1);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  std::exception_ptr mine;
  try {
    fn(0);
  } catch (...) {
    mine = std::current_exception();
  }
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins > kSpinBeforeYield) std::this_thread::yield();
    MELODL_PAUSE();
  }
  if (mine) std::rethrow_exception(mine);
  if (error_) std::rethrow_exception(error_);
}

void ThreadTeam::barrier() {
  if (n_ == 1) return;
  const unsigned gen = barrier_gen_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    barrier_gen_.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  int spins = 0;
  while (barrier_gen_.load(std::memory_order_acquire) == gen) {
    if (++spins > kSpinBeforeYield) std::this_thread::yield();
    MELODL_PAUSE();
  }
}

}  // namespace melodl::lstm::cpu
