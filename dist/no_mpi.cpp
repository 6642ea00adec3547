// dist/no_mpi.cpp: MpiReducer in a build without MPI (MELODL_MPI=OFF or MPI not found).
#include "base/error.h"
#include "dist/mpi_reducer.h"

namespace melodl::dist {

namespace {
[[noreturn]] void no_mpi() {
  throw Error(
      "[dist::MpiReducer] this melodl was built without MPI (configure with -DMELODL_MPI=ON "
      "and Open MPI installed: Debian libopenmpi-dev openmpi-bin)");
}
}  // namespace

bool built_with_mpi() { return false; }
MpiReducer::MpiReducer(double) { no_mpi(); }
MpiReducer::~MpiReducer() = default;
void MpiReducer::sum(std::span<float>) { no_mpi(); }
void MpiReducer::sum(std::span<double>) { no_mpi(); }
void MpiReducer::broadcast(std::span<float>, int) { no_mpi(); }
void MpiReducer::barrier() { no_mpi(); }
void MpiReducer::abort(const std::string&, int) { no_mpi(); }

}  // namespace melodl::dist
