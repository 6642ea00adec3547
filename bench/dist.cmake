# bench/dist.cmake: data-parallel training throughput, 1 vs N MPI ranks (issue 18;
# docs/benchmarks.md "Data-parallel training over MPI"). A plain program run under mpirun
# (no Google Benchmark): `mpirun -np 2 build/bench/dist_scaling 512 64 50 5 1`. Only with MPI.
if(MELODL_HAS_MPI)
  add_executable(dist_scaling ${CMAKE_CURRENT_SOURCE_DIR}/dist_scaling.cpp)
  target_link_libraries(dist_scaling PRIVATE melodl_dist melodl::lstm)
  melodl_warnings(dist_scaling)
endif()
