# bench/cudnn_find.cmake: finds cuDNN (cudnn.h, libcudnn) for the cuDNN LSTM baseline
# (bench/cudnn_lstm.{h,cpp}). Optional and never a dependency of melodl::lstm. Sets
# MELODL_HAS_CUDNN and, when found, the imported target melodl_cudnn::cudnn. Included by
# bench/lstm_cuda.cmake and tests/kernels/CMakeLists.txt; the second inclusion only sets
# MELODL_HAS_CUDNN in its directory scope.
set(MELODL_HAS_CUDNN OFF)
if(TARGET melodl_cudnn::cudnn)
  set(MELODL_HAS_CUDNN ON)
elseif(MELODL_HAS_CUDA)
  find_path(MELODL_CUDNN_INCLUDE_DIR cudnn.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}/include)
  find_library(MELODL_CUDNN_LIBRARY cudnn
    HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib64
          ${CUDAToolkit_LIBRARY_ROOT}/lib)
  if(MELODL_CUDNN_INCLUDE_DIR AND MELODL_CUDNN_LIBRARY)
    add_library(melodl_cudnn::cudnn UNKNOWN IMPORTED GLOBAL)
    set_target_properties(melodl_cudnn::cudnn PROPERTIES
      IMPORTED_LOCATION ${MELODL_CUDNN_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${MELODL_CUDNN_INCLUDE_DIR})
    set(MELODL_HAS_CUDNN ON)
    message(STATUS "melodl: cuDNN found (${MELODL_CUDNN_LIBRARY}): cuDNN LSTM baseline ON")
  else()
    message(STATUS "melodl: cuDNN not found: the cuDNN LSTM baseline and cross-check are skipped")
  endif()
endif()
