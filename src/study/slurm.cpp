#include "tiebreak/study/slurm.h"

#include "tiebreak/core/process.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <algorithm>

namespace tiebreak::study {

namespace fs = std::filesystem;

std::string format_slurm_array_script(const SweepOptions& options, const SlurmArrayOptions& slurm) {
  TORCH_CHECK(options.shard_index == 0 && options.shard_count == 1,
              "Slurm array: its tasks are the shards, so the sweep must be whole; got shard ",
              options.shard_index, "/", options.shard_count);
  TORCH_CHECK(slurm.tasks() >= 0, "Slurm array: tasks: expected a positive number, got ", slurm.tasks());
  for (const auto& option : slurm.sbatch()) {
    TORCH_CHECK(!option.empty() && option.find('\n') == std::string::npos,
                "Slurm array: expected one sbatch option such as --gres=gpu:1, got '", option, "'");
  }
  const auto sweep = resolve_sweep(options);
  const int64_t units = static_cast<int64_t>(sweep.points.size()) * sweep.runs;
  const int64_t tasks = slurm.tasks() > 0 ? std::min(slurm.tasks(), units) : units;

  const fs::path out = fs::absolute(options.out_dir);
  const fs::path exe = fs::absolute(slurm.executable().empty() ? current_executable() : slurm.executable());
  std::vector<std::string> argv{exe.string(), "sweep", fs::absolute(options.config_path).string()};
  for (const auto& axis : options.axes) argv.insert(argv.end(), {"--grid", format_grid_axis(axis)});
  for (const auto& s : options.overrides) argv.insert(argv.end(), {"--set", s});
  if (options.runs > 0) argv.insert(argv.end(), {"--runs", std::to_string(options.runs)});
  argv.insert(argv.end(), {"--jobs", std::to_string(options.jobs), "--out", out.string()});
  // The shard is the task's: expanded by bash, so outside the quoting.
  const std::string command =
      shell_command(argv) + fmt::format(" --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\"", tasks);

  std::string script = "#!/bin/bash\n";
  script += fmt::format(
      "# tiebreak sweep as a Slurm job array: task k trains shard k/{} of {} grid point(s) x {} run(s).\n"
      "# Submit with `sbatch {{this file}}`; resubmitting resumes (finished runs are skipped).\n",
      tasks, sweep.points.size(), sweep.runs);
  script += fmt::format("#SBATCH --job-name={}\n", "tiebreak-" + out.filename().string());
  script += fmt::format("#SBATCH --array=0-{}\n", tasks - 1);
  script += "#SBATCH --ntasks=1\n";
  script += fmt::format("#SBATCH --output={}\n", (out / "slurm" / "%A_%a.out").string());
  for (const auto& option : slurm.sbatch())
    script += "#SBATCH " + (option.rfind("-", 0) == 0 ? option : "--" + option) + "\n";
  script += "set -euo pipefail\n";
  script += "exec " + command + "\n";
  return script;
}

}  // namespace tiebreak::study
