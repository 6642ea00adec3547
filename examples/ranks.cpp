// examples/ranks.cpp: see ranks.h.
#include "examples/ranks.h"

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "base/error.h"
#include "dist/mpi_reducer.h"
#include "examples/cli_error.h"

namespace melodl::cli {

namespace {
dist::MpiReducer* g_job = nullptr;
}  // namespace

int run_as_rank(const char* name, const std::function<int()>& command) {
  const int launched = dist::launched_ranks();
  if (launched < 2) return command();
  if (!dist::built_with_mpi())
    throw Error(std::to_string(launched) +
                " MPI ranks launched, but this melodl was built without MPI (MELODL_MPI=OFF or "
                "no MPI found at build time): rebuild with libopenmpi-dev, or run one process");
  dist::MpiReducer job;
  g_job = &job;
  if (job.rank() != 0 && !std::freopen("/dev/null", "w", stdout))
    job.abort("cannot silence the output of this rank (/dev/null)");
  int code = 0;
  try {
    code = command();
  } catch (const UsageError& e) {
    job.abort(std::string(name) + ": error: " + e.what(), 2);
  } catch (const std::bad_alloc&) {
    job.abort(std::string(name) + ": error: out of memory");
  } catch (const std::exception& e) {
    job.abort(std::string(name) + ": error: " + e.what());
  }
  g_job = nullptr;
  return code;
}

lstm::GradientReducer* job_ranks() { return g_job; }

bool follower_rank() { return g_job && g_job->rank() != 0; }

}  // namespace melodl::cli
