#include "tiebreak/study/process_pool.h"

#include "tiebreak/core/process.h"
#include "tiebreak/train/interrupt.h"

#include <c10/util/Exception.h>

#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

extern char** environ;

namespace tiebreak::study {

LocalProcessPool::LocalProcessPool(ProcessPoolOptions options, Finished finished, Waiting waiting)
    : options_(std::move(options)), finished_(std::move(finished)), waiting_(std::move(waiting)) {
  TORCH_CHECK(options_.concurrency() >= 1, "process pool: concurrency: expected a positive number, got ",
              options_.concurrency());
  for (const auto& gpu : options_.gpus()) {
    TORCH_CHECK(!gpu.empty() && gpu.find_first_of(",= \t\n") == std::string::npos,
                "GPUs: expected device indices or UUIDs, got an entry '", gpu, "'");
  }
  concurrency_ = options_.gpus().empty() ? options_.concurrency()
                                         : std::min<int64_t>(options_.concurrency(),
                                                             static_cast<int64_t>(options_.gpus().size()));
  free_gpus_.assign(options_.gpus().rbegin(), options_.gpus().rend());
}

LocalProcessPool::~LocalProcessPool() {
  try {
    wait_all();
  } catch (...) {
    // Unwinding already: the children still get SIGTERM when we exit (die_with_parent).
  }
}

pid_t LocalProcessPool::submit(size_t id, const std::vector<std::string>& argv,
                               const std::filesystem::path& output) {
  wait_for_slot();
  SpawnOptions child;
  child.argv = argv;
  child.output = output;
  child.null_input = true;
  child.die_with_parent = true;
  child.own_process_group = true;
  std::string gpu;
  if (!free_gpus_.empty()) {
    child.env.emplace();
    for (char** e = environ; *e; ++e) {
      if (std::strncmp(*e, "CUDA_VISIBLE_DEVICES=", 21) != 0) child.env->push_back(*e);
    }
    gpu = free_gpus_.back();
    child.env->push_back("CUDA_VISIBLE_DEVICES=" + gpu);
  }
  const pid_t pid = spawn_process(child);
  if (!gpu.empty()) {
    free_gpus_.pop_back();
    gpu_of_[pid] = gpu;
  }
  running_[pid] = id;
  // A stop requested while this one started reaches it too.
  if (forwarded_ != 0) ::kill(pid, forwarded_);
  return pid;
}

void LocalProcessPool::wait_for_slot() {
  while (static_cast<int64_t>(running_.size()) >= concurrency_) wait_one();
}

void LocalProcessPool::wait_all() {
  while (!running_.empty()) wait_one();
}

void LocalProcessPool::forward_stop() {
  const int signal = train::stop_requested();
  if (signal == 0 || forwarded_ != 0) return;
  forwarded_ = signal;
  for (const auto& [pid, id] : running_) ::kill(pid, signal);
}

void LocalProcessPool::wait_one() {
  int status = 0;
  pid_t pid = 0;
  // Only our children: another child of this process (a TensorBoard export) is not ours to collect.
  while (true) {
    for (const auto& [candidate, id] : running_) {
      pid = ::waitpid(candidate, &status, WNOHANG);
      TORCH_CHECK(pid >= 0 || errno == EINTR, "process pool: waitpid failed: ", std::strerror(errno));
      if (pid > 0) break;
    }
    if (pid > 0) break;
    forward_stop();
    if (waiting_) waiting_();
    ::usleep(50 * 1000);
  }
  if (auto g = gpu_of_.find(pid); g != gpu_of_.end()) {
    free_gpus_.push_back(g->second);
    gpu_of_.erase(g);
  }
  const size_t id = running_.at(pid);
  running_.erase(pid);
  forward_stop();
  if (finished_) finished_(id, pid, status);
}

}  // namespace tiebreak::study
