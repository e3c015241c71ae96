# Decides whether the CUDA kernels are compiled (TIEBREAK_CUDA=ON|OFF|AUTO).
# A CUDA-built LibTorch needs the toolkit at configure time anyway; the kernels
# only need nvcc. They run only where a GPU is present.
string(TOUPPER "${TIEBREAK_CUDA}" _tb_cuda)
set(TIEBREAK_WITH_CUDA OFF)
if(_tb_cuda STREQUAL "ON" OR _tb_cuda STREQUAL "AUTO")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Hopper (H100/H200) natively, plus PTX for anything newer.
      set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual")
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(TIEBREAK_WITH_CUDA ON)
  elseif(_tb_cuda STREQUAL "ON")
    message(FATAL_ERROR "TIEBREAK_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
elseif(NOT _tb_cuda STREQUAL "OFF")
  message(FATAL_ERROR "TIEBREAK_CUDA must be ON, OFF or AUTO, got '${TIEBREAK_CUDA}'")
endif()
message(STATUS "tiebreak: CUDA kernels ${TIEBREAK_WITH_CUDA}")
