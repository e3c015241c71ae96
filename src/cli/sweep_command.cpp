#include "cli/commands.h"

#include "tiebreak/config/config.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/study/sweep.h"
#include "tiebreak/train/interrupt.h"
#include "tiebreak/train/trainer.h"

#include <fmt/format.h>

#include <iostream>

namespace tiebreak::cli {

void add_sweep_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::vector<std::string> grids, sets;
    int64_t runs = 0;
    std::string shard = "0/1";
    int64_t jobs = 0;  // 0: not given (1, or one per --gpus entry)
    std::string out;
    std::string gpus;
    std::string emit_slurm;
    int64_t slurm_tasks = 0;
    std::vector<std::string> sbatch;
    std::string data_root;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("sweep", "Train a config over a grid of values; re-running resumes");
  cmd->add_option("config", args->config, "Experiment config (JSON)")->required();
  cmd->add_option("--grid", args->grids,
                  "An axis: key=v1,v2,... (repeatable; cartesian product); default: the config's sweep.grid")
      ->take_all()
      ->expected(1);
  cmd->add_option("--set", args->sets, "Override a config value for every point: key=value")
      ->take_all()
      ->expected(1);
  cmd->add_option("--runs", args->runs, "Runs per point (seeds seed..seed+runs-1); default train.runs")
      ->check(positive_integer());
  cmd->add_option("--shard", args->shard, "Train only shard i of n (0-based), e.g. 1/4");
  cmd->add_option("--jobs", args->jobs, "Concurrent runs (child processes)")->check(positive_integer());
  cmd->add_option("--out", args->out, "Sweep directory (default: exp.output_dir/<config name>-sweep)");
  auto* gpus_given =
      cmd->add_option("--gpus", args->gpus,
                      "GPUs for the child runs, e.g. 0,1,2,3: one per run (CUDA_VISIBLE_DEVICES), --jobs "
                      "defaulting to their number");
  cmd->add_option("--emit-slurm", args->emit_slurm,
                  "Write an sbatch job-array script (task k trains shard k of the grid) instead of training");
  cmd->add_option("--slurm-tasks", args->slurm_tasks,
                  "Array tasks for --emit-slurm (default: one per grid point and run)")
      ->check(positive_integer());
  cmd->add_option("--sbatch", args->sbatch,
                  "An #SBATCH option for --emit-slurm, e.g. gres=gpu:1 or time=12:00:00 (repeatable)")
      ->take_all()
      ->expected(1);
  add_data_root_option(cmd, args->data_root);
  cmd->callback([&action, args, gpus_given] {
    action = [args, gpus_given] {
      refuse_distributed_launch("sweep");
      append_data_root(args->sets, args->data_root);
      study::SweepOptions o;
      o.config_path = args->config;
      o.overrides = args->sets;
      for (const auto& g : args->grids) o.axes.push_back(study::parse_grid_axis(g));
      // Without --grid, the config's own (sweep.grid: the study's β grid in configs/paper).
      if (o.axes.empty()) o.axes = study::config_grid(config::load_config(args->config, args->sets).config);
      o.runs = args->runs;
      std::tie(o.shard_index, o.shard_count) = study::parse_shard(args->shard);
      if (gpus_given->count() > 0) {
        // Every entry, empty ones included ("0,", ",,"), so that run_sweep rejects them.
        size_t start = 0;
        while (true) {
          const size_t comma = args->gpus.find(',', start);
          o.gpus.push_back(
              args->gpus.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
      }
      o.jobs = args->jobs > 0 ? args->jobs : std::max<int64_t>(1, static_cast<int64_t>(o.gpus.size()));
      if (args->out.empty()) {
        auto loaded = config::load_config(args->config, args->sets);
        auto dir = train::default_experiment_dir(loaded);
        o.out_dir = dir.parent_path() / (dir.filename().string() + "-sweep");
      } else {
        o.out_dir = args->out;
      }
      if (!args->emit_slurm.empty()) {
        study::SlurmArrayOptions slurm;
        slurm.tasks = args->slurm_tasks;
        slurm.sbatch = args->sbatch;
        const auto script = study::format_slurm_array_script(o, slurm);
        // Slurm does not create the --output directory.
        std::filesystem::create_directories(o.out_dir / "slurm");
        tiebreak::write_text_atomically(args->emit_slurm, script);
        std::filesystem::permissions(args->emit_slurm, std::filesystem::perms::owner_exec,
                                     std::filesystem::perm_options::add);
        std::cout << fmt::format("{}: Slurm job array for {}; submit with: sbatch {}\n", args->emit_slurm,
                                 o.out_dir.string(), args->emit_slurm);
        return 0;
      }
      if (args->slurm_tasks > 0 || !args->sbatch.empty())
        throw std::runtime_error("--slurm-tasks/--sbatch: expected --emit-slurm FILE with them");
      std::string command = "tiebreak sweep " + args->config;
      if (o.shard_count > 1) command += fmt::format(" --shard {}/{}", o.shard_index, o.shard_count);
      o.command_line = command;
      // SIGINT/SIGTERM: no new run starts, running ones stop at their next step (forwarded to the children).
      const train::StopOnSignals stop_on_signals;
      auto s = study::run_sweep(o, train::default_components());
      std::cout << fmt::format("{}: {} finished, {} diverged, {} failed, {} skipped (already done){}{}\n",
                               o.out_dir.string(), s.finished, s.diverged, s.failed, s.skipped,
                               s.stopped > 0
                                   ? fmt::format(", {} stopped early (train.stop_after_epoch; re-run to "
                                                 "continue)",
                                                 s.stopped)
                                   : "",
                               s.interrupted > 0 ? fmt::format(", {} interrupted", s.interrupted) : "");
      if (s.signal != 0) {
        throw train::Interrupted(
            s.signal,
            fmt::format("{}: sweep interrupted by {}: {} run(s) stopped with their checkpoints kept; "
                        "re-run the same command to continue",
                        o.out_dir.string(), train::signal_name(s.signal), s.interrupted));
      }
      return s.failed > 0 ? 1 : 0;
    };
  });
}

}  // namespace tiebreak::cli
