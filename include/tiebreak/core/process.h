#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tiebreak {

/// How spawn_process starts a program.
struct SpawnOptions {
  /// argv[0] is the program: a path, or a name looked up in PATH.
  std::vector<std::string> argv;
  /// The child's whole environment ("NAME=value"); nullopt inherits this process's.
  std::optional<std::vector<std::string>> env;
  /// Standard output and error appended to this file; empty inherits ours.
  std::filesystem::path output;
  /// Standard input from /dev/null instead of ours.
  bool null_input = false;
  /// The child gets SIGTERM when this process dies, however it dies (kill -9 included):
  /// PR_SET_PDEATHSIG, set in the child before exec, and a check that we were not gone already.
  bool die_with_parent = true;
  /// The child leads a process group of its own, so that a terminal's Ctrl-C reaches only us
  /// and we decide what the children get (sweeps forward one SIGINT/SIGTERM).
  bool own_process_group = false;
};

/// Starts a program and returns its pid. The one way tiebreak starts
/// processes (sweep's trainers, report's plotting script). Errors: a program
/// that cannot be started (not found, not executable, an output file that
/// cannot be opened) is a one-line c10::Error naming it and the reason; the
/// child never runs anything but the program.
///
/// Example:
/// ```
/// pid_t pid = spawn_process({.argv = {"python3", "plot.py"}, .output = "plot.log"});
/// int status = wait_process(pid);
/// ```
pid_t spawn_process(const SpawnOptions& options);

/// Waits for child `pid` (retrying on EINTR) and returns its waitpid status.
int wait_process(pid_t pid);

/// "exit N" or "killed by SIGNAME" for a waitpid status.
std::string describe_exit(int status);

/// `argv` as one line a POSIX shell reads back into the same arguments: each argument that holds anything
/// but letters, digits and `@%+=:,./-_` is single-quoted (a `'` inside becomes `'\''`), an empty one is `''`.
/// What run.json's `command` holds, so that pasting it (in the run's `working_directory`) reproduces the run.
///
/// Example: `shell_command({"tiebreak", "train", "c.json", "--set", "data.root=\"/my data\""})`
/// is `tiebreak train c.json --set 'data.root="/my data"'`.
std::string shell_command(const std::vector<std::string>& argv);

/// The path of the running executable (/proc/self/exe): what sweeps start as their child trainers.
std::filesystem::path current_executable();

}  // namespace tiebreak
