# bench/lstm_cuda.cmake: the whole-network GPU benchmark (bench/lstm_cuda_bench.cpp): our CUDA
# backend against cuDNN's LSTM (when cuDNN is found, bench/cudnn_find.cmake) and the CPU
# backend, over issue 5's shape matrix. Only in CUDA builds.
# Run: build-cuda/bench/lstm_cuda_bench --benchmark_out=lstm_cuda.json --benchmark_out_format=json
if(MELODL_HAS_CUDA AND TARGET melodl::lstm)
  include(${CMAKE_CURRENT_LIST_DIR}/cudnn_find.cmake)
  set(melodl_lstm_cuda_bench_sources ${CMAKE_CURRENT_LIST_DIR}/lstm_cuda_bench.cpp)
  if(MELODL_HAS_CUDNN)
    list(APPEND melodl_lstm_cuda_bench_sources ${CMAKE_CURRENT_LIST_DIR}/cudnn_lstm.cpp)
  endif()
  add_executable(lstm_cuda_bench ${melodl_lstm_cuda_bench_sources})
  target_link_libraries(lstm_cuda_bench PRIVATE melodl::lstm melodl_kernels benchmark::benchmark)
  if(MELODL_HAS_CUDNN)
    target_link_libraries(lstm_cuda_bench PRIVATE melodl_cudnn::cudnn)
    target_compile_definitions(lstm_cuda_bench PRIVATE MELODL_BENCH_HAS_CUDNN)
  endif()
  melodl_warnings(lstm_cuda_bench)
endif()
