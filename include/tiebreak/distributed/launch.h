#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace tiebreak::distributed {

/// Which launcher started this process, as read from its environment.
enum class Launcher {
  /// No launcher variables: a plain single-process run.
  None,
  /// torchrun (or anything that sets RANK and WORLD_SIZE the same way).
  Torchrun,
  /// Slurm's srun with more than one task (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID).
  Slurm,
};

/// This process's place in a data-parallel job and where its peers meet.
struct LaunchInfo {
  Launcher launcher = Launcher::None;
  int64_t rank = 0;
  int64_t world_size = 1;
  /// Rank among the processes of this node: the CUDA device index it uses.
  int64_t local_rank = 0;
  /// The rendezvous (c10d::TCPStore) host and port: MASTER_ADDR, MASTER_PORT.
  std::string master_addr;
  int64_t master_port = 0;
  /// torchrun's agent already serves the store (TORCHELASTIC_USE_AGENT_STORE=True):
  /// every rank connects to it as a client instead of rank 0 serving it.
  bool agent_store = false;

  bool distributed() const { return launcher != Launcher::None; }
};

/// Looks an environment variable up; nullopt when it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The real process environment (getenv).
EnvironmentLookup process_environment();

/// Reads the launcher variables. torchrun's RANK/WORLD_SIZE/LOCAL_RANK win; without them,
/// SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID with SLURM_NTASKS > 1 (a one-task Slurm job,
/// e.g. an sbatch array task, is a plain run). A distributed launch needs MASTER_ADDR and
/// MASTER_PORT. Malformed or inconsistent values throw one line naming the variable and
/// what was expected.
///
/// Example:
/// ```
/// auto launch = launch_from_environment();
/// if (launch.distributed()) fmt::print("rank {} of {}\n", launch.rank, launch.world_size);
/// ```
LaunchInfo launch_from_environment(const EnvironmentLookup& env = process_environment());

/// "torchrun", "slurm" or "none".
std::string to_string(Launcher launcher);

}  // namespace tiebreak::distributed
