#pragma once

#include <torch/arg.h>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tiebreak::study {

/// How a LocalProcessPool runs its children.
struct ProcessPoolOptions {
  /// Children at once.
  TORCH_ARG(int64_t, concurrency) = 1;
  /// GPUs of this machine, e.g. {"0", "1"} or UUIDs: each child sees one (CUDA_VISIBLE_DEVICES) and no two
  /// running children share one, so at most gpus.size() run at a time. Empty: children inherit our devices.
  TORCH_ARG(std::vector<std::string>, gpus);
};

/// The local process pool of `tiebreak sweep --jobs N [--gpus ...]`: runs child programs a few at a time on
/// this machine. Each child gets null input, its output appended to a file, a process group of its own (a
/// terminal's Ctrl-C reaches only us) and SIGTERM if we die (kill -9 included). A stop request
/// (train::stop_requested: SIGINT/SIGTERM under StopOnSignals) is forwarded once to every running child and
/// to each started after it; the caller decides whether to start more.
///
/// Errors: a GPU entry that is empty or holds a separator (one-line c10::Error naming it); a child that
/// cannot be started is reported by submit().
///
/// Example:
/// ```
/// LocalProcessPool pool(ProcessPoolOptions().concurrency(2),
///                       [](size_t id, pid_t, int status) { std::cout << id << ": " << describe_exit(status);
///                       });
/// for (size_t id = 0; id < commands.size() && !train::stop_requested(); ++id)
///   pool.submit(id, commands[id], logs[id]);
/// pool.wait_all();
/// ```
class LocalProcessPool {
 public:
  /// Called when child `id` (process `pid`) has ended, with its waitpid status.
  using Finished = std::function<void(size_t id, pid_t pid, int status)>;
  /// Called about every 50 ms while waiting for a child (e.g. to redraw a status line).
  using Waiting = std::function<void()>;

  LocalProcessPool(ProcessPoolOptions options, Finished finished, Waiting waiting = {});
  /// Waits for the children still running.
  ~LocalProcessPool();
  LocalProcessPool(const LocalProcessPool&) = delete;
  LocalProcessPool& operator=(const LocalProcessPool&) = delete;

  /// Waits until a slot is free, then starts `argv` as child `id` with its output appended to `output`;
  /// returns its pid. A child that cannot be started (program not found, output not writable) is a c10::Error
  /// naming it; the pool goes on.
  pid_t submit(size_t id, const std::vector<std::string>& argv, const std::filesystem::path& output);
  /// Waits until fewer than concurrency() children run.
  void wait_for_slot();
  /// Waits until no child runs.
  void wait_all();

  /// min(concurrency, number of GPUs when given).
  int64_t concurrency() const { return concurrency_; }
  size_t running() const { return running_.size(); }
  /// The stop signal forwarded to the children, 0 while none was.
  int forwarded_signal() const { return forwarded_; }

 private:
  void wait_one();
  void forward_stop();

  ProcessPoolOptions options_;
  Finished finished_;
  Waiting waiting_;
  int64_t concurrency_;
  std::map<pid_t, size_t> running_;
  std::map<pid_t, std::string> gpu_of_;
  std::vector<std::string> free_gpus_;
  int forwarded_ = 0;
};

}  // namespace tiebreak::study
