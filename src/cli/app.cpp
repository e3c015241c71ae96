#include "cli/commands.h"

#include "tiebreak/config/config.h"
#include "tiebreak/core/build_info.h"
#include "tiebreak/core/python.h"
#include "tiebreak/core/setting_error.h"
#include "tiebreak/core/tensorboard.h"
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
#include <cstdlib>
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

namespace {

/// How this command line spells what the library calls a setting: the library's messages say "resume it
/// or choose another run directory", the user typed flags.
std::string flag_for(core::Setting setting) {
  switch (setting) {
    case core::Setting::Resume:
      return "--resume";
    case core::Setting::RunDirectory:
      return "--out";
    case core::Setting::DataRoot:
      return "--data-root";
  }
  return "";
}

/// The library's one-line message followed by the flags of the settings it names: "... (--resume, --out)".
std::string with_flags(const core::SettingError& e) {
  std::string flags;
  for (const auto setting : e.settings()) flags += (flags.empty() ? "" : ", ") + flag_for(setting);
  return flags.empty() ? std::string(e.what()) : std::string(e.what()) + " (" + flags + ")";
}

/// The value of every `flag VALUE` and `flag=VALUE` on the command line.
std::vector<std::string> flag_values(const std::string& flag) {
  std::vector<std::string> values;
  const auto& args = process_arguments();
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) values.push_back(args[i + 1]);
    if (args[i].rfind(flag + "=", 0) == 0) values.push_back(args[i].substr(flag.size() + 1));
  }
  return values;
}

/// A config error in an override names the flag the user gave it with: "--set KEY=VALUE: DETAIL", or
/// "--grid KEY=V1,V2: DETAIL" for a sweep's grid point. An override the command made itself (an lr-search
/// trial's rate) keeps the library's "override KEY=VALUE: DETAIL".
std::string config_message(const config::ConfigError& e) {
  const auto& assignment = e.override_assignment();
  if (assignment.empty()) return e.what();
  for (const auto& value : flag_values("--set"))
    if (value == assignment) return "--set " + assignment + ": " + e.detail();
  const std::string key = assignment.substr(0, assignment.find('='));
  for (const auto& value : flag_values("--grid"))
    if (value.rfind(key + "=", 0) == 0) return "--grid " + value + ": " + e.detail();
  return e.what();
}

}  // namespace

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

CLI::Option* add_no_tensorboard_flag(CLI::App* command, bool& off) {
  return command->add_flag(
      "--no-tensorboard", off,
      "Write no TensorBoard logs (as TIEBREAK_TENSORBOARD=0; metrics.csv is the record)");
}

void apply_no_tensorboard(bool off) {
  if (off) ::setenv("TIEBREAK_TENSORBOARD", "0", 1);
}

void export_tensorboard(const std::filesystem::path& out) {
  TensorBoardExport tensorboard(
      out, out / "tensorboard.log",
      TensorBoardExportOptions()
          .enabled(tensorboard_wanted())
          .python(project_python())
          .script(project_script("tensorboard_export.py"))
          .warn([](const std::string& line) { std::cerr << "tiebreak: warning: " << line << "\n"; }));
  tensorboard.update();
  tensorboard.finish();
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
    std::cerr << "tiebreak: " << with_flags(e) << "\n";
    code = e.exit_code();
  } catch (const config::ConfigError& e) {
    std::cerr << "tiebreak: error: " << config_message(e) << "\n";
  } catch (const core::SettingError& e) {
    std::cerr << "tiebreak: error: " << with_flags(e) << "\n";
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
