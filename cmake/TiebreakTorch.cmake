# Finds LibTorch through the Python that scripts/setup.sh pinned
# (torch.utils.cmake_prefix_path), unless Torch_DIR is given.
if(NOT Torch_DIR)
  if(NOT TIEBREAK_PYTHON)
    if(DEFINED ENV{TIEBREAK_HOME})
      set(_tb_home "$ENV{TIEBREAK_HOME}")
    else()
      set(_tb_home "$ENV{HOME}/.cache/tiebreak")
    endif()
    if(EXISTS "${_tb_home}/python")
      file(STRINGS "${_tb_home}/python" TIEBREAK_PYTHON LIMIT_COUNT 1)
    else()
      find_program(TIEBREAK_PYTHON NAMES python3 python REQUIRED)
    endif()
  endif()
  execute_process(
    COMMAND "${TIEBREAK_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _tb_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _tb_rc ERROR_QUIET)
  if(NOT _tb_rc EQUAL 0)
    message(FATAL_ERROR "tiebreak: ${TIEBREAK_PYTHON} has no torch; run scripts/setup.sh first")
  endif()
  list(APPEND CMAKE_PREFIX_PATH "${_tb_prefix}")
endif()

if(TIEBREAK_WITH_CUDA)
  # Torch's CMake looks for nvToolsExt/cuDNN the old way; the wheels ship what it needs.
  set(USE_SYSTEM_NVTX ON CACHE BOOL "" FORCE)
  # Torch's CMake replaces CMAKE_CUDA_ARCHITECTURES by its own list, which
  # without TORCH_CUDA_ARCH_LIST is every architecture it supports (11 of them:
  # minutes per .cu file). Build Hopper natively plus PTX for newer GPUs.
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "9.0+PTX")
  endif()
endif()
find_package(Torch REQUIRED)
message(STATUS "tiebreak: LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}")
