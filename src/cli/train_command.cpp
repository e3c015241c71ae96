#include "cli/commands.h"

#include "tiebreak/config/config.h"
#include "tiebreak/core/process.h"
#include "tiebreak/distributed/launch.h"
#include "tiebreak/train/interrupt.h"
#include "tiebreak/train/trainer.h"

#include <fmt/format.h>

#include <iostream>
#include <optional>

namespace tiebreak::cli {

void add_train_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    std::string out;
    bool resume = false;
    int64_t run_id = -1;
    bool no_progress = false;
    std::string data_root;
    bool no_tensorboard = false;
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
  add_no_tensorboard_flag(cmd, args->no_tensorboard);
  cmd->callback([&action, args] {
    action = [args] {
      append_data_root(args->sets, args->data_root);
      apply_no_tensorboard(args->no_tensorboard);
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
                                              tiebreak::shell_command(process_arguments()), ctx,
                                              /*progress=*/!args->no_progress);
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

}  // namespace tiebreak::cli
