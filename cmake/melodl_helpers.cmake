# Helpers shared by every module's CMakeLists.txt.

# melodl_warnings(target): the project's warning set.
function(melodl_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${MELODL_WARNINGS_AS_ERRORS}>>:-Werror>)
endfunction()

# melodl_add_library(NAME <short> SOURCES ... [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# Creates melodl_<short>, alias melodl::<short>, exported as melodl::<short>.
# Headers are included from the repository root ("midi/model.h"); installed
# under include/melodl/ with the same relative paths.
function(melodl_add_library)
  cmake_parse_arguments(A "" "NAME" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS;HEADERS" ${ARGN})
  set(t melodl_${A_NAME})
  add_library(${t} STATIC ${A_SOURCES})
  add_library(melodl::${A_NAME} ALIAS ${t})
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${A_NAME} OUTPUT_NAME melodl_${A_NAME})
  target_compile_features(${t} PUBLIC cxx_std_20)
  target_include_directories(${t} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/melodl>)
  target_link_libraries(${t} PUBLIC ${A_PUBLIC_LIBS} PRIVATE ${A_PRIVATE_LIBS})
  melodl_warnings(${t})
  install(TARGETS ${t} EXPORT melodlTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  if(A_HEADERS)
    install(FILES ${A_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/melodl/${A_NAME})
  endif()
endfunction()

# melodl_add_test(NAME <name> SOURCES ... [LIBS ...] [LABELS cpu|cuda ...] [RUN_SERIAL])
# RUN_SERIAL: ctest runs each of its tests with no other test beside it (for end-to-end
# tests whose timeouts assume the machine's cores, e.g. a training run watched by Chromium).
function(melodl_add_test)
  cmake_parse_arguments(A "RUN_SERIAL" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS} GTest::gtest_main)
  target_compile_definitions(${A_NAME} PRIVATE
    MELODL_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MELODL_BINARY_DIR="${PROJECT_BINARY_DIR}")
  melodl_warnings(${A_NAME})
  if(NOT A_LABELS)
    set(A_LABELS cpu)
  endif()
  set(serial FALSE)
  if(A_RUN_SERIAL)
    set(serial TRUE)
  endif()
  gtest_discover_tests(${A_NAME} DISCOVERY_MODE PRE_TEST
                       PROPERTIES LABELS "${A_LABELS}" RUN_SERIAL ${serial})
endfunction()
