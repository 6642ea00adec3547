# bench/lstm.cmake: Google Benchmark program for the LSTM CPU backend (bench/lstm_bench.cpp).
# Run: build/bench/lstm_bench --benchmark_counters_tabular=true
if(TARGET melodl::lstm)
  add_executable(lstm_bench ${CMAKE_CURRENT_LIST_DIR}/lstm_bench.cpp)
  target_link_libraries(lstm_bench PRIVATE melodl::lstm benchmark::benchmark)
  melodl_warnings(lstm_bench)
endif()
