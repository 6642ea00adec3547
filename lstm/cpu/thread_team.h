// lstm/cpu/thread_team.h: a fixed team of threads for the CPU backend (internal).
// run(fn) calls fn(tid) on tids 0..n-1 (tid 0 on the caller) and returns when all are done;
// barrier() inside fn synchronises the team (one per recurrent time step). Workers spin
// briefly, then sleep, so an idle team costs no CPU. Work split is static (by tid), so
// results depend only on the thread count: bitwise reproducible for the same count.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace melodl::lstm::cpu {

class ThreadTeam {
 public:
  explicit ThreadTeam(int threads);
  ~ThreadTeam();
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  int size() const { return n_; }
  // Runs fn(tid) on every member; rethrows the first exception thrown by any member.
  void run(const std::function<void(int)>& fn);
  // Team-wide barrier; call from inside run() by every member the same number of times.
  void barrier();

 private:
  void worker(int tid);

  int n_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
  // barrier state (sense-reversing)
  std::atomic<int> arrived_{0};
  std::atomic<unsigned> barrier_gen_{0};
};

// [begin,end) of part `tid` of n items split into `parts` near-equal contiguous parts,
// aligned to `align` items where possible (keeps SIMD-friendly unit ranges).
inline void split_range(int n, int parts, int tid, int align, int& begin, int& end) {
  const int blocks = (n + align - 1) / align;
  const int b0 = static_cast<int>(static_cast<long long>(blocks) * tid / parts);
  const int b1 = static_cast<int>(static_cast<long long>(blocks) * (tid + 1) / parts);
  begin = std::min(n, b0 * align);
  end = std::min(n, b1 * align);
}

}  // namespace melodl::lstm::cpu
