#include "cli/commands.h"

#include "tiebreak/config/config.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/study/lr_search.h"
#include "tiebreak/train/interrupt.h"
#include "tiebreak/train/trainer.h"

#include <iostream>
#include <sstream>

namespace tiebreak::cli {

void add_lr_search_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    int64_t trials = 10;
    int64_t epochs = 10;
    std::string range = "1e-5,1e-1";
    std::string betas;
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
  cmd->add_option("--betas", args->betas, "Comma-separated beta values (default: the config's)");
  cmd->add_option("--startup", args->startup, "Trials that reach an epoch before pruning starts there")
      ->check(non_negative_integer());
  cmd->add_option("--out", args->out, "Output directory (default: exp.output_dir/<config name>-lr-search)");
  add_data_root_option(cmd, args->data_root);
  cmd->callback([&action, args] {
    action = [args] {
      refuse_distributed_launch("lr-search");
      append_data_root(args->sets, args->data_root);
      study::LrSearchOptions o;
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
        while (std::getline(ss, item, ',')) o.betas.push_back(parse_finite_number(item, "--betas"));
      }
      if (args->out.empty()) {
        auto dir = train::default_experiment_dir(config::load_config(args->config, args->sets));
        o.out_dir = dir.parent_path() / (dir.filename().string() + "-lr-search");
      } else {
        o.out_dir = args->out;
      }
      const train::StopOnSignals stop_on_signals;
      study::run_lr_search(o, train::default_components());
      std::cout << tiebreak::read_text(o.out_dir / "best_lr.csv");
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
