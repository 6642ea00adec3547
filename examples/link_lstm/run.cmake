# examples/link_lstm/run.cmake: cmake -P driver of the find_package test.
# -DBINARY_DIR=<melodl build tree> -DSOURCE_DIR=<this folder> -DWORK_DIR=<scratch>
# [-DGENERATOR=<generator>] [-DCXX=<compiler>]. Installs the build tree into
# WORK_DIR/prefix, then configures, builds and runs the external project against it.
foreach(v BINARY_DIR SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: -D${v}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${err}")
  endif()
endfunction()

step(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix)
set(gen_args)
if(GENERATOR)
  list(APPEND gen_args -G ${GENERATOR})
endif()
if(CXX)
  list(APPEND gen_args -DCMAKE_CXX_COMPILER=${CXX})
endif()
step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build ${gen_args}
     -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step(${WORK_DIR}/build/toy_train)
