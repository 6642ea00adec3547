# bench/extract.cmake: MIDI load and melody extraction throughput (issue 2 item 9).
# extract_bench times melodl::midi::read_file alone and read_file + extract_melodies
# over whole corpora (data/bach, and ../shared/corpora when present);
# bench/mido_compare.py compares it with python3-mido. Results: docs/benchmarks.md.
# Needs the music modules (not built with MELODL_BUILD_MUSIC=OFF).
if(TARGET melodl::encode)
  add_executable(extract_bench ${CMAKE_CURRENT_SOURCE_DIR}/extract_bench.cpp)
  target_link_libraries(extract_bench PRIVATE melodl::midi melodl::encode benchmark::benchmark)
  target_compile_definitions(extract_bench PRIVATE MELODL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  melodl_warnings(extract_bench)
endif()
