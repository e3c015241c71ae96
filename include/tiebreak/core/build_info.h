#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace tiebreak {

/// What this build of tiebreak is and what it can reach at run time: printed by
/// `tiebreak --version` and recorded in every run's `run.json`.
///
/// Example:
/// ```
/// std::cout << tiebreak::format_build_info(tiebreak::build_info());
/// ```
struct BuildInfo {
  std::string version;
  std::string git_revision;
  /// The checkout had uncommitted changes to tracked files when the build was configured
  /// (scripts/build.sh configures on every build): the revision alone does not reproduce it.
  bool git_dirty = false;
  std::string libtorch_version;
  bool cxx11_abi = true;
  /// tiebreak's own CUDA kernels were compiled in.
  bool cuda_kernels = false;
  /// LibTorch was built with CUDA and a driver + device answered.
  bool cuda_available = false;
  int cuda_device_count = 0;
  bool cudnn_available = false;
  long cudnn_version = 0;
  int cpu_threads = 0;
  /// The build of the CPU kernels in use: "default" or "f16c" (hardware Half
  /// conversion); $TIEBREAK_CPU_CAPABILITY overrides the detection.
  std::string cpu_kernels;
};

BuildInfo build_info();
std::string format_build_info(const BuildInfo& info);
nlohmann::json to_json(const BuildInfo& info);

}  // namespace tiebreak
