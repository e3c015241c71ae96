#include "cli/commands.h"

#include "tiebreak/core/build_info.h"

#include <c10/util/Exception.h>

#include <iostream>

namespace tiebreak::cli {

int run(int argc, char** argv) {
  CLI::App app{"tiebreak: how the choice of a nonsmooth Jacobian changes training"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print versions, ABI and CUDA/cuDNN availability, then exit");

  Action action;
  add_demo_command(app, action);
  add_data_command(app, action);
  add_train_command(app, action);
  add_sweep_command(app, action);
  add_compare_command(app, action);
  add_zones_command(app, action);
  add_diverge_command(app, action);
  add_report_command(app, action);
  add_lr_search_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (show_version) {
      std::cout << format_build_info(build_info());
      return 0;
    }
    if (!action) {
      std::cout << app.help();
      return app.get_subcommands().empty() ? 0 : 2;
    }
    return action();
  } catch (const c10::Error& e) {
    std::cerr << "tiebreak: error: " << e.what_without_backtrace() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "tiebreak: error: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace tiebreak::cli
