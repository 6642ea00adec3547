# bench/lstm.cmake: Google Benchmark program for the LSTM CPU backend (bench/lstm_bench.cpp).
# Run: build/bench/lstm_bench --benchmark_counters_tabular=true
if(TARGET melodl::lstm)
  add_executable(lstm_bench ${CMAKE_CURRENT_LIST_DIR}/lstm_bench.cpp)
  target_link_libraries(lstm_bench PRIVATE melodl::lstm benchmark::benchmark)
  melodl_warnings(lstm_bench)
endif()

# bench/fma_peak.cpp: the float32 FMA peak of this CPU, built with the LSTM backend's -march.
if(MELODL_LSTM_ARCH MATCHES "x86-64-v[34]")
  add_executable(fma_peak ${CMAKE_CURRENT_LIST_DIR}/fma_peak.cpp)
  target_link_libraries(fma_peak PRIVATE benchmark::benchmark)
  target_compile_options(fma_peak PRIVATE -march=${MELODL_LSTM_ARCH})
  melodl_warnings(fma_peak)
endif()
