# bench/kernels_cuda.cmake: Google Benchmark programs for the CUDA kernels (only with CUDA).
# Run: build/bench/lstm_layer_cuda_bench [--benchmark_out=res.json --benchmark_out_format=json]
# Without a usable device every benchmark reports "no CUDA device: <reason>".
if(MELODL_HAS_CUDA)
  include(${PROJECT_SOURCE_DIR}/kernels/cuda_std.cmake)  # C++20 for nvcc on CMake 3.25
  add_executable(lstm_layer_cuda_bench ${CMAKE_CURRENT_LIST_DIR}/lstm_layer_cuda_bench.cu)
  target_link_libraries(lstm_layer_cuda_bench PRIVATE melodl_kernels benchmark::benchmark)
  target_compile_options(lstm_layer_cuda_bench PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
    $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${MELODL_WARNINGS_AS_ERRORS}>>:-Werror=all-warnings>)
  # GemmMath::kBf16 vs kTf32/kFp32: GEMMs and the layer forward (a) and (b) (issue 5).
  add_executable(bf16_cuda_bench ${CMAKE_CURRENT_LIST_DIR}/bf16_cuda_bench.cu)
  target_link_libraries(bf16_cuda_bench PRIVATE melodl_kernels benchmark::benchmark)
  target_compile_options(bf16_cuda_bench PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
    $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${MELODL_WARNINGS_AS_ERRORS}>>:-Werror=all-warnings>)
endif()
