#include "tiebreak/core/build_info.h"

#include "ops/cpu/cpu_capability.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <fmt/format.h>

namespace tiebreak {

BuildInfo build_info() {
  BuildInfo info;
  info.version = TIEBREAK_VERSION;
  info.git_revision = TIEBREAK_GIT_REVISION;
  info.git_dirty = TIEBREAK_GIT_DIRTY;
  info.libtorch_version = TORCH_VERSION;
#ifdef _GLIBCXX_USE_CXX11_ABI
  info.cxx11_abi = _GLIBCXX_USE_CXX11_ABI != 0;
#endif
#ifdef TIEBREAK_WITH_CUDA
  info.cuda_kernels = true;
#endif
  info.cuda_available = torch::cuda::is_available();
  info.cuda_device_count = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.cudnn_available = info.cuda_available && torch::cuda::cudnn_is_available();
  info.cudnn_version = info.cudnn_available ? at::globalContext().versionCuDNN() : 0;
  info.cpu_threads = at::get_num_threads();
  info.cpu_kernels = ops::to_string(ops::cpu_capability());
  return info;
}

std::string format_build_info(const BuildInfo& info) {
  std::string out;
  out += fmt::format("tiebreak {} (git {}{})\n", info.version, info.git_revision,
                     info.git_dirty ? ", with uncommitted changes" : "");
  out += fmt::format("LibTorch {}, C++11 ABI {}\n", info.libtorch_version, info.cxx11_abi ? "yes" : "no");
  out += fmt::format("CUDA kernels compiled: {}\n", info.cuda_kernels ? "yes" : "no");
  if (info.cuda_available) {
    out += fmt::format("CUDA available: yes, {} device(s)\n", info.cuda_device_count);
  } else {
    out += "CUDA available: no (no driver or no device; training runs on the CPU)\n";
  }
  out += fmt::format("cuDNN: {}\n",
                     info.cudnn_available ? fmt::format("yes, version {}", info.cudnn_version) : "no");
  out += fmt::format("CPU threads: {}, CPU kernels: {}\n", info.cpu_threads, info.cpu_kernels);
  return out;
}

nlohmann::json to_json(const BuildInfo& info) {
  return {{"version", info.version},
          {"git_revision", info.git_revision},
          {"git_dirty", info.git_dirty},
          {"libtorch_version", info.libtorch_version},
          {"cxx11_abi", info.cxx11_abi},
          {"cuda_kernels", info.cuda_kernels},
          {"cuda_available", info.cuda_available},
          {"cuda_device_count", info.cuda_device_count},
          {"cudnn_available", info.cudnn_available},
          {"cudnn_version", info.cudnn_version},
          {"cpu_threads", info.cpu_threads},
          {"cpu_kernels", info.cpu_kernels}};
}

}  // namespace tiebreak
