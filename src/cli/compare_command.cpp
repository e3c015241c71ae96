#include "cli/commands.h"

#include "tiebreak/study/compare.h"

#include <iostream>

namespace tiebreak::cli {

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
      auto runs = study::collect_runs(roots);
      if (runs.empty())
        throw std::runtime_error("compare: no run directories (with metrics.csv) under the given paths");
      auto comparison = study::compare_runs(runs);
      std::cout << (args->csv ? study::format_comparison_csv(comparison)
                              : study::format_comparison_table(comparison));
      return 0;
    };
  });
}

}  // namespace tiebreak::cli
