#pragma once
// The live status of a sweep whose runs train as child processes (sweep --jobs N, --gpus): how many
// runs are done, running and failed, each running run's epoch and last test accuracy (read from its
// metrics.csv, which the child rewrites after every epoch) and the sweep's ETA. Private to src/study.

#include <sys/types.h>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace tiebreak::study::detail {

class SweepStatus {
 public:
  /// `total`: runs this invocation trains; `concurrency`: runs at once. On a terminal the line is redrawn
  /// in place every second; otherwise it is printed every `every_seconds` (exp.log_every_seconds; 0: never).
  SweepStatus(bool enabled, size_t total, int64_t concurrency, double every_seconds);

  void started(pid_t pid, std::string name, std::filesystem::path run_dir, int64_t epochs);
  /// A child ended: its wall time feeds the ETA.
  void ended(pid_t pid);
  /// Prints the line when it is due. `done`, `failed`: runs ended so far, of which failed.
  void update(size_t done, int64_t failed);
  /// Erases the in-place line (before another line goes to the terminal).
  void clear();

  /// The status text (without a newline).
  std::string format(size_t done, int64_t failed) const;

 private:
  struct Running {
    std::string name;
    std::filesystem::path dir;
    int64_t epochs = 0;
    std::chrono::steady_clock::time_point started;
  };
  bool enabled_;
  bool tty_;
  double every_;
  size_t total_;
  int64_t concurrency_;
  std::map<pid_t, Running> running_;
  double ended_seconds_ = 0;
  int64_t ended_count_ = 0;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace tiebreak::study::detail
