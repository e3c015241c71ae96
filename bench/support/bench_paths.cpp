// The checkout's path, compiled in this file alone (see bench/CMakeLists.txt).
// Declared in support/bench_support.h, which is not included here: its ATen
// headers would cost a compile without the PCH.
#include <cstdlib>
#include <filesystem>

namespace tiebreak::bench {

std::filesystem::path shared_data_root() {
  if (const char* env = std::getenv("TIEBREAK_DATA"); env && *env) return env;
  return std::filesystem::path(TIEBREAK_BENCH_SOURCE_DIR).parent_path() / "shared" / "data";
}

}  // namespace tiebreak::bench
