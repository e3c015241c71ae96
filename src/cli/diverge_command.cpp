#include "cli/commands.h"

#include "tiebreak/config/config.h"
#include "tiebreak/train/trainer.h"
#include "tiebreak/zones/divergence.h"

#include <fmt/format.h>

#include <iostream>

namespace tiebreak::cli {

void add_diverge_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::string values;
    int64_t epochs = 0;
    double lr_jitter = 0;
    int64_t batch_limit = 0;
    bool resume = false;
    std::string out;
    std::vector<std::string> sets;
    bool no_tensorboard = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "diverge", "Weight divergence: networks that differ only in a Jacobian choice, trained side by side");
  cmd->add_option("config", args->config, "Experiment config (JSON)")->required();
  cmd->add_option("--values", args->values,
                  "A nonsmooth key and one value per network, the first the reference, e.g. "
                  "nonsmooth.beta=0,0,1,10 (a repeated reference measures nondeterminism)")
      ->required();
  cmd->add_option("--epochs", args->epochs, "Epochs to train (default: the config's train.epochs)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--lr-jitter", args->lr_jitter,
                  "lr = train.optimizer.lr * (1 + J*u), u ~ U[0,1) drawn from train.seed (the study: 0.2)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-limit", args->batch_limit, "Only the first N mini-batches of each epoch (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--resume", args->resume, "Continue from the checkpoints in --out");
  cmd->add_option("--out", args->out, "Output directory (default: exp.output_dir/<config name>-diverge)");
  cmd->add_option("--set", args->sets,
                  "Override a config value: key=value (dotted key; value parsed as JSON)")
      ->take_all()
      ->expected(1);
  add_no_tensorboard_flag(cmd, args->no_tensorboard);
  cmd->callback([&action, args] {
    action = [args] {
      apply_no_tensorboard(args->no_tensorboard);
      auto loaded = config::load_config(args->config, args->sets);
      auto options =
          for_flag("--values", [&] { return zones::DivergenceOptions::parse_values(args->values); });
      options.epochs = args->epochs;
      options.lr_jitter = args->lr_jitter;
      options.batch_limit = args->batch_limit;
      options.resume = args->resume;
      if (args->out.empty()) {
        auto dir = train::default_experiment_dir(loaded);
        options.out = dir.parent_path() / (dir.filename().string() + "-diverge");
      } else {
        options.out = args->out;
      }
      auto result = zones::run_divergence(loaded, options, train::default_components(), &std::cerr);
      export_tensorboard(options.out);
      std::cout << result.table();
      std::cout << fmt::format("wrote {}\n", (options.out / "divergence.csv").string());
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
