#include "cli/commands.h"

#include "tiebreak/core/build_info.h"
#include "tiebreak/distributed/launch.h"
#include "tiebreak/train/interrupt.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace tiebreak::cli {

namespace {

CLI::Validator integer_at_least(int64_t minimum, const std::string& expected) {
  return CLI::Validator(
      [minimum, expected](std::string& text) -> std::string {
        int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (text.empty() || ec != std::errc() || ptr != end || value < minimum)
          return "expected " + expected + ", got '" + text + "'";
        return "";
      },
      expected == "a positive integer" ? "POSITIVE" : "NONNEGATIVE");
}

}  // namespace

const CLI::Validator& positive_integer() {
  static const CLI::Validator validator = integer_at_least(1, "a positive integer");
  return validator;
}

const CLI::Validator& non_negative_integer() {
  static const CLI::Validator validator = integer_at_least(0, "a non-negative integer");
  return validator;
}

double parse_finite_number(const std::string& text, const std::string& flag) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;  // not a number, or beyond a double's range
  }
  if (text.empty() || used != text.size() || !std::isfinite(value))
    throw std::runtime_error(flag + ": expected a finite number, got '" + text + "'");
  return value;
}

namespace {
std::vector<std::string>& arguments() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

const std::vector<std::string>& process_arguments() { return arguments(); }

CLI::Option* add_data_root_option(CLI::App* command, std::string& root) {
  return command->add_option(
      "--data-root", root,
      "Data root with one folder per dataset (sets data.root; default: $TIEBREAK_DATA, "
      "else ./data); not part of a run's identity, so a resumed run may read its data "
      "from elsewhere");
}

void append_data_root(std::vector<std::string>& overrides, const std::string& root) {
  if (!root.empty()) overrides.push_back("data.root=" + nlohmann::json(root).dump());
}

void refuse_distributed_launch(const std::string& command) {
  const auto launch = distributed::launch_from_environment();
  if (launch.distributed()) {
    throw std::runtime_error(fmt::format(
        "{}: launched as rank {} of {} by {}; only `tiebreak train` runs data-parallel (start {} as one "
        "process)",
        command, launch.rank, launch.world_size, distributed::to_string(launch.launcher), command));
  }
}

int run(int argc, char** argv) {
  arguments().assign(argv, argv + argc);
  // Library log lines (a dataset's "60000 training and 10000 test images") go to stderr: stdout carries
  // the commands' results (tables, CSV, `evaluate --json`, `config`), which are piped and parsed.
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("tiebreak", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
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
  add_half_check_command(app, action);
  add_config_command(app, action);
  add_evaluate_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, like every other error; exit 2 marks a usage error.
    std::cerr << "tiebreak: error: " << e.what() << " (see tiebreak --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tiebreak: error: " << e.what() << "\n";
    return 2;
  }
  int code = 1;
  try {
    if (show_version) {
      std::cout << format_build_info(build_info());
      code = 0;
    } else if (!action) {
      std::cout << app.help();
      code = app.get_subcommands().empty() ? 0 : 2;
    } else {
      code = action();
    }
  } catch (const train::Interrupted& e) {
    // Not an error: what was kept and how to continue, and the shell's 128 + signal.
    std::cerr << "tiebreak: " << e.what() << "\n";
    code = e.exit_code();
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    std::cerr << "tiebreak: error: " << what.substr(0, what.find('\n')) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "tiebreak: error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "tiebreak: error: an unknown exception ended the command\n";
  }
  // A table or CSV that could not be written (stdout on a full disk, a closed
  // pipe) is an error, not a silent success.
  errno = 0;
  std::cout.flush();
  if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
    const int err = errno;
    std::cerr << "tiebreak: error: cannot write to standard output" << (err ? ": " : "")
              << (err ? std::strerror(err) : "") << "\n";
    return code == 0 ? 1 : code;
  }
  return code;
}

}  // namespace tiebreak::cli
