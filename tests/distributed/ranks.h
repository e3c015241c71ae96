#pragma once

// Launching the built `tiebreak` program as the ranks of a data-parallel job,
// with the environment torchrun gives each of its processes.

#include "support/test_support.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tiebreak::distributed::testing {

/// A TCP port nothing listens on right now (bound to port 0, then released).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("free_port: cannot bind a socket");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// This process's environment without any launcher variable, plus `extra`.
inline std::vector<std::string> clean_environment(const std::map<std::string, std::string>& extra) {
  static const char* launcher_vars[] = {"RANK",
                                        "WORLD_SIZE",
                                        "LOCAL_RANK",
                                        "MASTER_ADDR",
                                        "MASTER_PORT",
                                        "SLURM_PROCID",
                                        "SLURM_NTASKS",
                                        "SLURM_LOCALID",
                                        "TORCHELASTIC_USE_AGENT_STORE",
                                        "GLOO_SOCKET_IFNAME"};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool launcher = false;
    for (const char* v : launcher_vars) launcher = launcher || name == v;
    if (!launcher) env.push_back(entry);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

/// One started process: its pid and where its stdout and stderr go.
struct Process {
  pid_t pid = -1;
  std::filesystem::path out, err;
  int exit_code = -1;  // after wait: the exit status, or 128 + signal
};

/// Starts `program args...` with `env`, output to `log_prefix`.out/.err.
inline Process spawn(const std::vector<std::string>& command, const std::vector<std::string>& env,
                     const std::filesystem::path& log_prefix) {
  Process p;
  p.out = log_prefix.string() + ".out";
  p.err = log_prefix.string() + ".err";
  std::vector<std::string> args = command, envs = env;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, p.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, p.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  int rc = posix_spawnp(&p.pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("spawn " + command[0] + ": " + std::strerror(rc));
  return p;
}

/// Waits for every process; any still running after `limit` is killed and
/// reported as a hang (exit code -2), so a broken test cannot block the suite.
inline void wait_all(std::vector<Process>& processes, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  size_t left = processes.size();
  while (left > 0) {
    for (auto& p : processes) {
      if (p.pid < 0) continue;
      int status = 0;
      if (::waitpid(p.pid, &status, WNOHANG) == p.pid) {
        p.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        p.pid = -1;
        --left;
      }
    }
    if (left == 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (auto& p : processes) {
        if (p.pid < 0) continue;
        ::kill(p.pid, SIGKILL);
        ::waitpid(p.pid, nullptr, 0);
        p.pid = -1;
        p.exit_code = -2;
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The built CLI started as `world_size` local ranks (torchrun's variables) running `args`.
inline std::vector<Process> spawn_ranks(int world_size, const std::vector<std::string>& args,
                                        const std::filesystem::path& log_dir, int port) {
  std::vector<Process> ranks;
  for (int r = 0; r < world_size; ++r) {
    std::vector<std::string> command{tiebreak::testing::tiebreak_binary()};
    command.insert(command.end(), args.begin(), args.end());
    auto env = clean_environment({{"RANK", std::to_string(r)},
                                  {"WORLD_SIZE", std::to_string(world_size)},
                                  {"LOCAL_RANK", std::to_string(r)},
                                  {"MASTER_ADDR", "127.0.0.1"},
                                  {"MASTER_PORT", std::to_string(port)}});
    ranks.push_back(spawn(command, env, log_dir / ("rank" + std::to_string(r))));
  }
  return ranks;
}

}  // namespace tiebreak::distributed::testing
