#include "tiebreak/core/process.h"

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstring>

extern char** environ;

namespace tiebreak {

namespace {

/// What the child tells the parent through the close-on-exec pipe when it cannot get to exec.
struct ChildFailure {
  int step;  // 0: opening the output, 1: exec
  int error;
};

[[noreturn]] void child_fails(int pipe_fd, int step) {
  const ChildFailure failure{step, errno};
  [[maybe_unused]] const ssize_t n = ::write(pipe_fd, &failure, sizeof failure);
  ::_exit(127);
}

}  // namespace

pid_t spawn_process(const SpawnOptions& options) {
  TORCH_CHECK(!options.argv.empty() && !options.argv[0].empty(), "spawn_process: expected a program");
  // Everything the child needs is built before fork: between fork and exec only async-signal-safe calls.
  std::vector<std::string> args = options.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_entries;
  std::vector<char*> envp;
  if (options.env) {
    env_entries = *options.env;
    for (auto& e : env_entries) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  char* const* child_env = options.env ? envp.data() : environ;
  const std::string output = options.output.string();
  const pid_t parent = ::getpid();
  const bool search_path = options.argv[0].find('/') == std::string::npos;

  int report[2];
  TORCH_CHECK(::pipe2(report, O_CLOEXEC) == 0, options.argv[0],
              ": cannot start: pipe: ", std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    TORCH_CHECK(false, options.argv[0], ": cannot start: fork: ", std::strerror(err));
  }
  if (pid == 0) {
    ::close(report[0]);
    if (options.own_process_group) ::setpgid(0, 0);
    if (options.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      // The parent may have died before prctl took effect: then we were re-parented already.
      if (::getppid() != parent) ::_exit(143);
    }
    // Handlers do not survive exec, but a blocked mask and ignored signals would: start clean.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    if (options.null_input) {
      const int in = ::open("/dev/null", O_RDONLY);
      if (in < 0 || ::dup2(in, STDIN_FILENO) < 0) child_fails(report[1], 0);
    }
    if (!output.empty()) {
      const int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (out < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(out, STDERR_FILENO) < 0)
        child_fails(report[1], 0);
    }
    if (search_path) {
      ::execvpe(argv[0], argv.data(), child_env);
    } else {
      ::execve(argv[0], argv.data(), child_env);
    }
    child_fails(report[1], 1);
  }
  ::close(report[1]);
  ChildFailure failure{};
  ssize_t n = 0;
  while ((n = ::read(report[0], &failure, sizeof failure)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    wait_process(pid);
    TORCH_CHECK(failure.step != 0, output.empty() ? std::string("/dev/null") : output,
                ": cannot open for the output of ", options.argv[0], ": ", std::strerror(failure.error));
    TORCH_CHECK(false, options.argv[0], ": cannot start: ", std::strerror(failure.error));
  }
  return pid;
}

int wait_process(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    TORCH_CHECK(errno == EINTR, "waitpid(", pid, "): ", std::strerror(errno));
  }
  return status;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return std::string("killed by ") +
           (name ? std::string("SIG") + name : "signal " + std::to_string(WTERMSIG(status)));
  }
  return "status " + std::to_string(status);
}

namespace {

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  for (unsigned char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string("@%+=:,./-_").find(static_cast<char>(c)) != std::string::npos;
    if (!plain) return true;
  }
  return false;
}

}  // namespace

std::string shell_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    if (!needs_quotes(arg)) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::filesystem::path current_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

}  // namespace tiebreak
