#include "cli/commands.h"

#include "tiebreak/config/config.h"

#include <iostream>
#include <memory>

namespace tiebreak::cli {

void add_config_command(CLI::App& app, Action& action) {
  struct Args {
    std::string config;
    std::vector<std::string> sets;
    std::string data_root;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "config", "Resolve and check a config (extends, --set, defaults) and print it; trains nothing");
  cmd->add_option("config", args->config, "Experiment config (JSON)")->required();
  cmd->add_option("--set", args->sets,
                  "Override a config value: key=value (dotted key; value parsed as JSON)")
      ->take_all()
      ->expected(1);
  add_data_root_option(cmd, args->data_root);
  cmd->callback([&action, args] {
    action = [args] {
      append_data_root(args->sets, args->data_root);
      // The same loading and validation as train/sweep: an error here is the error they would give.
      std::cout << config::load_config(args->config, args->sets).json.dump(2) << "\n";
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
