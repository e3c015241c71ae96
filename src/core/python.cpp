#include "tiebreak/core/python.h"

#include <cstdlib>

// Only this file sees the checkout's paths (CMake sets them on it alone), so that every other object compiles
// identically in every checkout and hits the compiler cache.
#ifndef TIEBREAK_DEFAULT_PYTHON
#define TIEBREAK_DEFAULT_PYTHON "python3"
#endif
#ifndef TIEBREAK_SCRIPTS_DIR
#define TIEBREAK_SCRIPTS_DIR "scripts"
#endif

namespace tiebreak {

std::string project_python() {
  if (const char* env = std::getenv("TIEBREAK_PYTHON"); env && *env) return env;
  return TIEBREAK_DEFAULT_PYTHON;
}

std::filesystem::path project_script(const std::string& name) {
  if (const char* env = std::getenv("TIEBREAK_SCRIPTS"); env && *env)
    return std::filesystem::path(env) / name;
  return std::filesystem::path(TIEBREAK_SCRIPTS_DIR) / name;
}

}  // namespace tiebreak
