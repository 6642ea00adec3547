// dist/launch.cpp: what the launcher's environment says (built with or without MPI).
#include <cstdlib>
#include <string>

#include "dist/mpi_reducer.h"

namespace melodl::dist {

namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end && *end == '\0' && n > 0 && n < (1L << 30) ? static_cast<int>(n) : 0;
}

}  // namespace

int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const int n = env_int(name)) return n;
  if (std::getenv("PMIX_RANK") || std::getenv("PMI_RANK"))
    if (const int n = env_int("SLURM_NTASKS")) return n;
  return 1;
}

double default_timeout_s() {
  const char* v = std::getenv("MELODL_MPI_TIMEOUT");
  if (!v || !*v) return 300.0;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  return end && *end == '\0' && s > 0 ? s : 300.0;
}

}  // namespace melodl::dist
