// dist/mpi_reducer.h: data-parallel training over MPI (docs/distributed.md). MpiReducer is
// the lstm::GradientReducer of a job started by `mpirun -np N` (or a scheduler's `srun`):
// MPI_Init in its constructor, MPI_Finalize in its destructor, and the sums and broadcasts
// lstm::Trainer and pipeline::TrainingRun need, each bounded in time so that a rank that
// died or hangs ends the whole job with a message instead of a silent hang. The header has
// no MPI types; a build without MPI (MELODL_MPI=OFF or no MPI found) has the same API and
// the constructor throws. Tests: tests/dist/.
//
// Example (every rank runs the same program):
//   if (dist::launched_ranks() > 1) {
//     dist::MpiReducer mpi;                 // rank() in [0, ranks())
//     trainer.set_reducer(&mpi);
//     trainer.broadcast_from_root();
//   }
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "lstm/reducer.h"

namespace melodl::dist {

// Whether this build has MPI (the MELODL_MPI build option).
bool built_with_mpi();

// The number of ranks a launcher started this process among, from the environment:
// OMPI_COMM_WORLD_SIZE (Open MPI's mpirun), PMI_SIZE (MPICH's mpiexec, srun --mpi=pmi2),
// PMIX_SIZE or SLURM_NTASKS with PMIX_RANK set (srun --mpi=pmix); 1 when none is set.
int launched_ranks();

// The time limit of one collective: MELODL_MPI_TIMEOUT (seconds, > 0) or 300.
double default_timeout_s();

class MpiReducer final : public lstm::GradientReducer {
 public:
  // MPI_Init_thread (MPI is called from the constructing thread only). Throws melodl::Error
  // when built without MPI or when MPI is already initialised.
  explicit MpiReducer(double timeout_s = default_timeout_s());
  // MPI_Finalize; during stack unwinding (an exception on this rank) MPI_Abort instead, so
  // the other ranks do not wait for this one.
  ~MpiReducer() override;
  MpiReducer(const MpiReducer&) = delete;
  MpiReducer& operator=(const MpiReducer&) = delete;

  int rank() const override { return rank_; }
  int ranks() const override { return ranks_; }
  // Fixed order: an all-to-all gives rank r the r-th chunk of every rank's buffer, rank r
  // adds them in rank order, an all-gather returns the sums (the bytes of a ring allreduce).
  void sum(std::span<float> values) override;
  void sum(std::span<double> values) override;
  void broadcast(std::span<float> values, int root) override;
  // Every rank waits for all others (bounded like the collectives).
  void barrier();

  // Prints "melodl: rank R of N: <message>" to stderr and ends every rank of the job
  // (MPI_Abort with `code`).
  [[noreturn]] void abort(const std::string& message, int code = 1);

  // Seconds spent in sum() and calls made so far (for measurements).
  double sum_seconds() const { return sum_seconds_; }
  long sum_calls() const { return sum_calls_; }

 private:
  template <class T>
  void sum_impl(std::span<T> values);
  // Waits for a started request until the time limit, then abort()s naming `what`.
  void wait(void* request, const char* what);

  int rank_ = 0, ranks_ = 1;
  double timeout_s_ = 300;
  int uncaught_ = 0;
  std::vector<std::byte> send_, recv_;  // sum()'s buffers, kept between calls
  double sum_seconds_ = 0;
  long sum_calls_ = 0;
};

}  // namespace melodl::dist
