# bench/serve.cmake: the load test of `melodl serve` on loopback (issue 16): 50 clients x 10
# compose requests of about 300 notes; throughput, p50/p99 latency, 429s, peak RSS, and the
# server-side time of one 300-note melody. Not a Google Benchmark (a fixed, bounded run).
# Run: build/bench/serve_bench [MODEL] --clients 50 --requests 10. Results: docs/serve.md.
if(TARGET melodl_compose_server)
  find_package(nlohmann_json 3 REQUIRED)
  add_executable(serve_bench ${CMAKE_CURRENT_LIST_DIR}/serve_bench.cpp)
  target_link_libraries(serve_bench PRIVATE melodl_compose_server nlohmann_json::nlohmann_json)
  target_include_directories(serve_bench PRIVATE ${PROJECT_SOURCE_DIR})
  melodl_warnings(serve_bench)
endif()
