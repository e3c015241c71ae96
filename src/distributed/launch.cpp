#include "tiebreak/distributed/launch.h"

#include <c10/util/Exception.h>

#include <cstdlib>
#include <limits>

namespace tiebreak::distributed {

namespace {

std::optional<int64_t> parse_integer(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used, 10);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != text.size()) return std::nullopt;
  return static_cast<int64_t>(value);
}

/// The integer in variable `name`, which must be set and lie in [min, max].
int64_t required_integer(const EnvironmentLookup& env, const std::string& name, int64_t min, int64_t max,
                         const std::string& expected) {
  auto text = env(name);
  TORCH_CHECK(text.has_value(), "environment: ", name, " is not set: expected ", expected);
  auto value = parse_integer(*text);
  TORCH_CHECK(value && *value >= min && *value <= max, "environment: ", name, "=", *text, ": expected ",
              expected);
  return *value;
}

}  // namespace

EnvironmentLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::string to_string(Launcher launcher) {
  switch (launcher) {
    case Launcher::None:
      return "none";
    case Launcher::Torchrun:
      return "torchrun";
    case Launcher::Slurm:
      return "slurm";
  }
  return "unknown";
}

LaunchInfo launch_from_environment(const EnvironmentLookup& env) {
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  LaunchInfo info;
  if (env("RANK") || env("WORLD_SIZE")) {
    info.launcher = Launcher::Torchrun;
    info.world_size = required_integer(env, "WORLD_SIZE", 1, kMaxInt, "the number of processes (>= 1)");
    info.rank =
        required_integer(env, "RANK", 0, info.world_size - 1,
                         "this process's rank in [0, WORLD_SIZE=" + std::to_string(info.world_size) + ")");
    info.local_rank = env("LOCAL_RANK") ? required_integer(env, "LOCAL_RANK", 0, info.world_size - 1,
                                                           "the rank on this node in [0, WORLD_SIZE)")
                                        : 0;
  } else if (auto tasks = env("SLURM_NTASKS"); tasks && parse_integer(*tasks).value_or(0) > 1) {
    info.launcher = Launcher::Slurm;
    info.world_size = required_integer(env, "SLURM_NTASKS", 2, kMaxInt, "the number of tasks");
    info.rank =
        required_integer(env, "SLURM_PROCID", 0, info.world_size - 1,
                         "the task's rank in [0, SLURM_NTASKS=" + std::to_string(info.world_size) + ")");
    info.local_rank = required_integer(env, "SLURM_LOCALID", 0, info.world_size - 1,
                                       "the task's rank on its node in [0, SLURM_NTASKS)");
  } else {
    return info;
  }
  const auto addr = env("MASTER_ADDR");
  TORCH_CHECK(addr && !addr->empty(),
              "environment: MASTER_ADDR is not set: expected the host of rank 0 (torchrun sets it; under "
              "srun export MASTER_ADDR=<first node of the job>)");
  info.master_addr = *addr;
  info.master_port = required_integer(env, "MASTER_PORT", 1, 65535,
                                      "the rendezvous TCP port in [1, 65535] (torchrun sets it; under srun "
                                      "export MASTER_PORT, e.g. 29500)");
  info.agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  return info;
}

}  // namespace tiebreak::distributed
