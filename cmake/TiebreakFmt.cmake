# The torch wheel ships fmt 12 headers inside its include directory, which
# would shadow Debian's fmt 9 (the one libfmt.so and libspdlog.so are built
# with) and end in undefined fmt::v12 symbols at link time. A directory holding
# only links to Debian's fmt and spdlog headers goes first on the include path.
get_target_property(_tb_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
list(GET _tb_fmt_inc 0 _tb_fmt_inc)
set(TIEBREAK_DEBIAN_FIRST_INCLUDE "${PROJECT_BINARY_DIR}/debian-first-include")
file(MAKE_DIRECTORY "${TIEBREAK_DEBIAN_FIRST_INCLUDE}")
foreach(_tb_lib fmt spdlog)
  if(NOT EXISTS "${TIEBREAK_DEBIAN_FIRST_INCLUDE}/${_tb_lib}")
    file(CREATE_LINK "${_tb_fmt_inc}/${_tb_lib}" "${TIEBREAK_DEBIAN_FIRST_INCLUDE}/${_tb_lib}" SYMBOLIC)
  endif()
endforeach()
