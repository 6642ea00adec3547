// examples/ranks.h: `mpirun -np N melodl train ...` (docs/distributed.md). When a launcher
// (mpirun, srun) started several ranks, a command runs as one rank of the job: MPI around it
// (dist::MpiReducer), the normal output of ranks 1.. silenced (rank 0 prints and writes), and
// an error on any rank printed with its rank and ending every rank at once. One process: the
// command runs as before, MPI untouched.
#pragma once

#include <functional>

#include "lstm/reducer.h"

namespace melodl::cli {

// Runs `command` (see above). `name` prefixes an error ("melodl train"). Throws
// melodl::Error when several ranks were launched but this build has no MPI.
int run_as_rank(const char* name, const std::function<int()>& command);

// While run_as_rank runs a job of several ranks: this rank's reducer; else nullptr.
lstm::GradientReducer* job_ranks();

// Ranks 1.. of a job (they neither print nor serve the live view).
bool follower_rank();

}  // namespace melodl::cli
