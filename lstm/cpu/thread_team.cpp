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
// Spin counts (pause instructions) before blocking in the kernel (futex via
// std::atomic::wait). Spinning keeps the per-step barrier at ~1 us on a quiet machine;
// blocking keeps an overloaded machine (more runnable threads than cores) from wasting the
// time slices of the thread being waited for.
constexpr int kSpinBeforeSleep = 1 << 14;  // idle worker waiting for the next job
constexpr int kSpinBeforeBlock = 1 << 11;  // barrier and job completion
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
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_all();
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
  for (int left = pending_.load(std::memory_order_acquire); left != 0;
       left = pending_.load(std::memory_order_acquire)) {
    if (++spins > kSpinBeforeBlock) {
      pending_.wait(left, std::memory_order_acquire);
    } else {
      MELODL_PAUSE();
    }
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
    barrier_gen_.notify_all();
    return;
  }
  int spins = 0;
  while (barrier_gen_.load(std::memory_order_acquire) == gen) {
    if (++spins > kSpinBeforeBlock) {
      barrier_gen_.wait(gen, std::memory_order_acquire);
    } else {
      MELODL_PAUSE();
    }
  }
}

}  // namespace melodl::lstm::cpu
