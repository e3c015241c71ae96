#include "cli/commands.h"

#include <iostream>

namespace tiebreak::cli {

void add_demo_command(CLI::App& app, Action& action) {
  auto* demo = app.add_subcommand("demo", "Small demonstrations of nonsmooth autodiff");
  demo->require_subcommand(1);
  auto* zero = demo->add_subcommand("zero", "The paper's introductory example: AD of max1 - max2");
  zero->callback([&action] { action = [] { std::cout << "demo zero: not yet\n"; return 0; }; });
}

} // namespace tiebreak::cli
