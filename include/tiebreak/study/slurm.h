#pragma once

#include "tiebreak/study/sweep.h"

#include <torch/arg.h>

#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::study {

/// How a sweep is laid out as a Slurm job array.
struct SlurmArrayOptions {
  /// Array tasks; task k trains shard k of `tasks` (see shard_units). 0 = one task per (point, run).
  TORCH_ARG(int64_t, tasks) = 0;
  /// Extra `#SBATCH` options, e.g. "--gres=gpu:1" or "time=12:00:00" (a leading "--" is added when missing).
  TORCH_ARG(std::vector<std::string>, sbatch);
  /// The tiebreak program the tasks run; empty = this one (current_executable()).
  TORCH_ARG(std::filesystem::path, executable);
};

/// An sbatch script running the sweep `options` describes as a job array: task k runs
/// `tiebreak sweep CONFIG --grid ... --set ... --shard k/N --out OUT` with absolute paths, so it can be
/// submitted from anywhere; its output goes to OUT/slurm/<job>_<task>.out (a directory the caller creates:
/// Slurm does not). Resubmitting it resumes the sweep (finished runs are skipped, interrupted ones continue
/// from their checkpoints). Every point's config is validated first (resolve_sweep).
///
/// Errors (one-line c10::Error): options.shard_* other than 0/1 (the array's tasks are the shards), a
/// negative task count, an sbatch option that is empty or spans lines, or a point's config error.
///
/// Example:
/// ```
/// auto script = format_slurm_array_script(options, SlurmArrayOptions().sbatch({"--gres=gpu:1"}));
/// write_text_atomically("sweep.sbatch", script);  // then: sbatch sweep.sbatch
/// ```
std::string format_slurm_array_script(const SweepOptions& options, const SlurmArrayOptions& slurm);

}  // namespace tiebreak::study
