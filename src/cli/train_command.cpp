#include "cli/commands.h"

#include "tiebreak/config/config.h"
#include "tiebreak/distributed/launch.h"
#include "tiebreak/train/atomic_file.h"
#include "tiebreak/train/command_line.h"
#include "tiebreak/train/compare.h"
#include "tiebreak/train/interrupt.h"
#include "tiebreak/train/lr_search.h"
#include "tiebreak/train/sweep.h"
#include "tiebreak/train/trainer.h"

#include <fmt/format.h>

#include <iostream>
#include <optional>
#include <sstream>

namespace tiebreak::cli {

namespace {

/// Commands that run many trainings each refuse a torchrun/srun launch: every
/// rank would run the whole command. `tiebreak train` is the data-parallel one.
void refuse_distributed_launch(const std::string& command) {
  const auto launch = distributed::launch_from_environment();
  if (launch.distributed()) {
    throw std::runtime_error(fmt::format(
        "{}: launched as rank {} of {} by {}; only `tiebreak train` runs data-parallel (start {} as one "
        "process)",
        command, launch.rank, launch.world_size, distributed::to_string(launch.launcher), command));
  }
}

}  // namespace

void add_train_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    std::string out;
    bool resume = false;
    int64_t run_id = -1;
    bool no_progress = false;
    std::string data_root;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "Train the runs a config describes (one directory per run)");
  cmd->add_option("config", args->config, "Experiment config (JSON)")->required();
  cmd->add_option("--set", args->sets,
                  "Override a config value: key=value (dotted key; value parsed as JSON)")
      ->take_all()
      ->expected(1);
  cmd->add_option("--out", args->out, "Experiment directory (default: exp.output_dir/<config name>)");
  cmd->add_flag("--resume", args->resume, "Continue from each run's checkpoint; finished runs are kept");
  cmd->add_option("--run-id", args->run_id, "Train only this run (0 .. train.runs-1)")
      ->check(non_negative_integer());
  cmd->add_flag("--no-progress", args->no_progress, "Log to the run's train.log only");
  add_data_root_option(cmd, args->data_root);
  cmd->callback([&action, args] {
    action = [args] {
      append_data_root(args->sets, args->data_root);
      auto loaded = config::load_config(args->config, args->sets);
      if (args->run_id >= loaded.config.train.runs) {
        throw std::runtime_error(fmt::format("--run-id {}: expected less than train.runs ({})", args->run_id,
                                             loaded.config.train.runs));
      }
      const std::filesystem::path out =
          args->out.empty() ? train::default_experiment_dir(loaded) : std::filesystem::path(args->out);
      std::optional<int64_t> only;
      if (args->run_id >= 0) only = args->run_id;
      const auto launch = distributed::launch_from_environment();
      auto ctx = launch.distributed() ? train::join_distributed_run(loaded.config, launch) : nullptr;
      // SIGINT/SIGTERM stop the run at its next step, recorded as interrupted (train::Interrupted, exit
      // 130/143).
      const train::StopOnSignals stop_on_signals;
      auto outcomes = train::train_experiment(loaded, out, args->resume, train::default_components(), only,
                                              train::shell_command(process_arguments()), ctx);
      if (ctx && !ctx->is_main()) return 0;
      for (size_t i = 0; i < outcomes.size(); ++i) {
        const auto& o = outcomes[i];
        std::cout << fmt::format(
            "{}: {}{}\n", train::run_directory(out, only.value_or(static_cast<int64_t>(i))).string(),
            train::to_string(o.status),
            o.rows.empty() ? ""
                           : fmt::format(", final test accuracy {:.2f}%", 100 * o.rows.back().test_accuracy));
      }
      return 0;
    };
  });
}

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
      train::SweepOptions o;
      o.config_path = args->config;
      o.overrides = args->sets;
      for (const auto& g : args->grids) o.axes.push_back(train::parse_grid_axis(g));
      // Without --grid, the config's own (sweep.grid: the study's β grid in configs/paper).
      if (o.axes.empty()) o.axes = train::config_grid(config::load_config(args->config, args->sets).config);
      o.runs = args->runs;
      std::tie(o.shard_index, o.shard_count) = train::parse_shard(args->shard);
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
        train::SlurmArrayOptions slurm;
        slurm.tasks = args->slurm_tasks;
        slurm.sbatch = args->sbatch;
        const auto script = train::format_slurm_array_script(o, slurm);
        // Slurm does not create the --output directory.
        std::filesystem::create_directories(o.out_dir / "slurm");
        train::write_text_atomically(args->emit_slurm, script);
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
      auto s = train::run_sweep(o, train::default_components());
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

void add_compare_command(CLI::App& app, Action& action) {
  struct Args {
    std::vector<std::string> dirs;
    bool csv = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("compare", "Final and best test accuracy per beta x precision x varied keys");
  cmd->add_option("dirs", args->dirs, "Run, experiment or sweep directories")->required();
  cmd->add_flag("--csv", args->csv, "Machine-readable CSV (accuracies as fractions)");
  cmd->callback([&action, args] {
    action = [args] {
      std::vector<std::filesystem::path> roots(args->dirs.begin(), args->dirs.end());
      auto runs = train::collect_runs(roots);
      if (runs.empty())
        throw std::runtime_error("compare: no run directories (with metrics.csv) under the given paths");
      auto comparison = train::compare_runs(runs);
      std::cout << (args->csv ? train::format_comparison_csv(comparison)
                              : train::format_comparison_table(comparison));
      return 0;
    };
  });
}

void add_lr_search_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    int64_t trials = 10;
    int64_t epochs = 10;
    std::string range = "1e-5,1e-1";
    std::string betas;
    std::string old_betas;
    int64_t startup = 3;
    std::string out;
    std::string data_root;
  };
  auto args = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("lr-search", "Search the learning rate per beta (log-uniform, median pruning)");
  cmd->add_option("config", args->config, "Experiment config (JSON)")->required();
  cmd->add_option("--set", args->sets, "Override a config value: key=value")->take_all()->expected(1);
  cmd->add_option("--trials", args->trials, "Trials per beta")->check(positive_integer());
  cmd->add_option("--epochs", args->epochs, "Epochs per trial")->check(positive_integer());
  cmd->add_option("--range", args->range, "Learning-rate range low,high (sampled log-uniformly)");
  cmd->add_option("--nonsmooth-beta", args->betas,
                  "Comma-separated values of nonsmooth.beta, the Jacobian beta, to search (default: the "
                  "config's)");
  // The flag's old name read as Adam's betas (train.optimizer.betas); it is refused with the new one.
  cmd->add_option("--betas", args->old_betas)->group("");
  cmd->add_option("--startup", args->startup, "Trials that reach an epoch before pruning starts there")
      ->check(non_negative_integer());
  cmd->add_option("--out", args->out, "Output directory (default: exp.output_dir/<config name>-lr-search)");
  add_data_root_option(cmd, args->data_root);
  cmd->callback([&action, args] {
    action = [args] {
      refuse_distributed_launch("lr-search");
      if (!args->old_betas.empty())
        throw std::runtime_error("--betas " + args->old_betas +
                                 ": the Jacobian beta values are --nonsmooth-beta (Adam's betas are the "
                                 "config's train.optimizer.betas)");
      append_data_root(args->sets, args->data_root);
      train::LrSearchOptions o;
      o.config_path = args->config;
      o.overrides = args->sets;
      o.trials = args->trials;
      o.epochs = args->epochs;
      o.startup_trials = static_cast<size_t>(args->startup);
      auto comma = args->range.find(',');
      if (comma == std::string::npos) {
        throw std::runtime_error("--range " + args->range + ": expected low,high e.g. 1e-5,1e-1");
      }
      o.low = parse_finite_number(args->range.substr(0, comma), "--range");
      o.high = parse_finite_number(args->range.substr(comma + 1), "--range");
      if (!(o.low > 0 && o.high >= o.low)) {
        throw std::runtime_error("--range " + args->range + ": expected 0 < low <= high");
      }
      if (!args->betas.empty()) {
        std::stringstream ss(args->betas);
        std::string item;
        while (std::getline(ss, item, ',')) o.betas.push_back(parse_finite_number(item, "--nonsmooth-beta"));
      }
      if (args->out.empty()) {
        auto dir = train::default_experiment_dir(config::load_config(args->config, args->sets));
        o.out_dir = dir.parent_path() / (dir.filename().string() + "-lr-search");
      } else {
        o.out_dir = args->out;
      }
      const train::StopOnSignals stop_on_signals;
      train::run_lr_search(o, train::default_components());
      std::cout << train::read_text(o.out_dir / "best_lr.csv");
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
