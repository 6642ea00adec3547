// dist/mpi_reducer.cpp: MpiReducer over Open MPI (or any MPI-3 library): non-blocking
// collectives polled until a time limit, so a dead or hung rank cannot hang the job.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>
#include <vector>

#include "base/error.h"
#include "dist/mpi_reducer.h"

namespace melodl::dist {

namespace {

using Clock = std::chrono::steady_clock;

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}

}  // namespace

bool built_with_mpi() { return true; }

MpiReducer::MpiReducer(double timeout_s)
    : timeout_s_(timeout_s), uncaught_(std::uncaught_exceptions()) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) throw Error("[dist::MpiReducer] MPI is already initialised in this process");
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks_);
}

MpiReducer::~MpiReducer() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (finalised) return;
  // Unwinding an exception: the other ranks would wait in their next collective (and
  // MPI_Finalize may wait for them), so end the job now. The exception's message is printed
  // by whoever catches it, which never happens after MPI_Abort: say so here.
  if (std::uncaught_exceptions() > uncaught_) {
    std::fprintf(stderr, "melodl: rank %d of %d: stopped by an error; ending every rank\n", rank_,
                 ranks_);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
}

void MpiReducer::abort(const std::string& message, int code) {
  std::fprintf(stderr, "melodl: rank %d of %d: %s\n", rank_, ranks_, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; keep the compiler sure of it
}

void MpiReducer::wait(void* request, const char* what) {
  auto* req = static_cast<MPI_Request*>(request);
  const auto start = Clock::now();
  // Open MPI moves a large non-blocking collective on only inside MPI_Test (fragment by
  // fragment), so poll without sleeping, yielding the core to a busy neighbour (another rank
  // on an oversubscribed machine); after a second the other ranks are late, not the
  // transfer: poll every 100 us.
  bool late = false;
  for (long polls = 0;; ++polls) {
    int done = 0;
    MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (late)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    else
      std::this_thread::yield();
    if (polls % 256 != 255) continue;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    late = waited > 1.0;
    if (waited > timeout_s_) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "no answer from the other ranks for %.0f s in %s", timeout_s_,
                    what);
      abort(std::string(buf) +
            ": a rank has died or hangs; ending the job (MELODL_MPI_TIMEOUT sets the limit)");
    }
  }
}

template <class T>
void MpiReducer::sum_impl(std::span<T> values) {
  const auto t0 = Clock::now();
  const std::size_t n = values.size(), N = static_cast<std::size_t>(ranks_);
  if (N > 1 && n > 0) {
    const std::size_t chunk = (n + N - 1) / N;
    // Buffers kept between calls (the gradient's size every update: no page faults).
    send_.resize(std::max(send_.size(), chunk * N * sizeof(T)));
    recv_.resize(send_.size());
    T* send = reinterpret_cast<T*>(send_.data());
    T* recv = reinterpret_cast<T*>(recv_.data());
    std::copy(values.begin(), values.end(), send);
    std::fill(send + n, send + chunk * N, T(0));
    MPI_Request req;
    const int c = static_cast<int>(chunk);
    MPI_Ialltoall(send, c, mpi_type<T>(), recv, c, mpi_type<T>(), MPI_COMM_WORLD, &req);
    wait(&req, "the gradient sum (all-to-all)");
    // recv = this rank's chunk of rank 0, 1, ...: added in rank order into the first.
    for (std::size_t r = 1; r < N; ++r)
      for (std::size_t k = 0; k < chunk; ++k) recv[k] += recv[r * chunk + k];
    MPI_Iallgather(recv, c, mpi_type<T>(), send, c, mpi_type<T>(), MPI_COMM_WORLD, &req);
    wait(&req, "the gradient sum (all-gather)");
    std::copy_n(send, n, values.begin());
  }
  sum_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  ++sum_calls_;
}

void MpiReducer::sum(std::span<float> values) { sum_impl(values); }
void MpiReducer::sum(std::span<double> values) { sum_impl(values); }

void MpiReducer::broadcast(std::span<float> values, int root) {
  if (ranks_ < 2 || values.empty()) return;
  MPI_Request req;
  MPI_Ibcast(values.data(), static_cast<int>(values.size()), MPI_FLOAT, root, MPI_COMM_WORLD, &req);
  wait(&req, "a broadcast from rank 0");
}

void MpiReducer::barrier() {
  if (ranks_ < 2) return;
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  wait(&req, "a barrier");
}

}  // namespace melodl::dist
