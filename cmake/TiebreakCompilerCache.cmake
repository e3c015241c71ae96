# ccache keeps rebuilds (and CI's repeated builds) fast; its directory lives
# outside the source tree (scripts/env.sh sets CCACHE_DIR).
find_program(TIEBREAK_CCACHE ccache)
if(TIEBREAK_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${TIEBREAK_CCACHE}")
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${TIEBREAK_CCACHE}")
  message(STATUS "tiebreak: compiler cache ${TIEBREAK_CCACHE}")
endif()
