# bench/melody_length.cmake: time per symbol of the codecs, the render path (melody ->
# MIDI file), match, novelty of a copy, the n-gram baseline and style statistics as one
# melody grows from 10k to 1M symbols (issue 14 point 3). Results: docs/benchmarks.md.
# Run: build/bench/melody_length_bench --benchmark_counters_tabular=true
# Needs the music modules (not built with MELODL_BUILD_MUSIC=OFF).
if(TARGET melodl::encode AND TARGET melodl_eval)
  add_executable(melody_length_bench ${CMAKE_CURRENT_LIST_DIR}/melody_length_bench.cpp)
  target_link_libraries(melody_length_bench PRIVATE melodl::encode melodl::midi melodl_eval
                                                    benchmark::benchmark)
  melodl_warnings(melody_length_bench)
endif()
