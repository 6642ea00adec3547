# bench/cudnn_find.cmake: finds cuDNN (cudnn.h, libcudnn) for the cuDNN LSTM baseline
# (bench/cudnn_lstm.{h,cpp}). Optional and never a dependency of melodl::lstm. Sets
# MELODL_HAS_CUDNN and, when found, the imported target melodl_cudnn::cudnn. Included by
# bench/lstm_cuda.cmake and tests/kernels/CMakeLists.txt; the second inclusion only sets
# MELODL_HAS_CUDNN in its directory scope.
# Where: the CUDA toolkit's folders, the system's, and CUDNN_ROOT (cache variable, else the
# environment variable) with include/ and lib/ (or lib64/) below it, e.g. pip's
# nvidia-cudnn-cu13 at <site-packages>/nvidia/cudnn, which ships only libcudnn.so.9 (no
# unversioned libcudnn.so). The library's folder goes into the programs' run path, so the
# test and benchmark binaries run without LD_LIBRARY_PATH.
set(MELODL_HAS_CUDNN OFF)
if(TARGET melodl_cudnn::cudnn)
  set(MELODL_HAS_CUDNN ON)
elseif(MELODL_HAS_CUDA)
  set(CUDNN_ROOT "$ENV{CUDNN_ROOT}" CACHE PATH
      "cuDNN prefix (include/cudnn.h, lib/libcudnn.so*), e.g. <site-packages>/nvidia/cudnn")
  set(melodl_cudnn_include_hints ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}/include)
  set(melodl_cudnn_lib_hints ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib64
                             ${CUDAToolkit_LIBRARY_ROOT}/lib)
  if(CUDNN_ROOT)
    list(PREPEND melodl_cudnn_include_hints ${CUDNN_ROOT}/include)
    list(PREPEND melodl_cudnn_lib_hints ${CUDNN_ROOT}/lib ${CUDNN_ROOT}/lib64)
  endif()
  find_path(MELODL_CUDNN_INCLUDE_DIR cudnn.h HINTS ${melodl_cudnn_include_hints})
  # NAMES_PER_DIR: a hinted folder's libcudnn.so.9 wins over a system libcudnn.so.
  find_library(MELODL_CUDNN_LIBRARY NAMES cudnn libcudnn.so.10 libcudnn.so.9 NAMES_PER_DIR
    HINTS ${melodl_cudnn_lib_hints})
  if(MELODL_CUDNN_INCLUDE_DIR AND MELODL_CUDNN_LIBRARY)
    get_filename_component(melodl_cudnn_lib_dir ${MELODL_CUDNN_LIBRARY} DIRECTORY)
    add_library(melodl_cudnn::cudnn SHARED IMPORTED GLOBAL)
    set_target_properties(melodl_cudnn::cudnn PROPERTIES
      IMPORTED_LOCATION ${MELODL_CUDNN_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${MELODL_CUDNN_INCLUDE_DIR}
      # cuDNN 9 also dlopens its sub-libraries (libcudnn_graph.so.9, ...) from this folder.
      INTERFACE_LINK_OPTIONS "LINKER:-rpath,${melodl_cudnn_lib_dir}")
    set(MELODL_HAS_CUDNN ON)
    message(STATUS "melodl: cuDNN found (${MELODL_CUDNN_LIBRARY}): cuDNN LSTM baseline ON")
  else()
    message(STATUS "melodl: cuDNN not found (set CUDNN_ROOT, e.g. to pip's "
                   "<site-packages>/nvidia/cudnn): the cuDNN LSTM baseline and cross-check are skipped")
  endif()
endif()
