# kernels/cuda_std.cmake: teach CMake 3.25 the nvcc flag for C++20 (it only knows up to
# C++17 for NVIDIA), in the including directory's scope. Harmless on newer CMake.
if(CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA" AND NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
