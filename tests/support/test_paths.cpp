// The checkout's paths, compiled in this file alone (see tests/CMakeLists.txt).
#include "support/test_support.h"

namespace tiebreak::testing {

const std::filesystem::path& source_dir() {
  static const std::filesystem::path dir(TIEBREAK_SOURCE_DIR);
  return dir;
}

const std::string& tiebreak_binary() {
  static const std::string binary(TIEBREAK_BINARY);
  return binary;
}

}  // namespace tiebreak::testing
