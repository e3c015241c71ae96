#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/train/engine.h"
#include "tiebreak/train/metrics.h"

#include <spdlog/logger.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <vector>

namespace tiebreak::distributed {
class DistributedContext;
}  // namespace tiebreak::distributed

namespace tiebreak::train::detail {

/// A run's log and progress: train.log (rank 0 only) and, when shown, stderr; the other ranks of a
/// data-parallel run log warnings and errors to stderr only.
///
/// Within an epoch: on a terminal a line redrawn in place (at most 4 times a second); otherwise (a log
/// file, a batch job) a logged line every exp.log_every_seconds (0: none), which also goes to train.log.
/// Not shown (`show` false: --no-progress, ranks other than 0): no line within an epoch anywhere, and
/// the per-epoch lines in train.log only. The ETA assumes each remaining epoch takes as long as the
/// finished ones did on average.
class RunProgress {
 public:
  RunProgress(const std::filesystem::path& log_file, const config::ExpConfig& exp, bool show, int64_t run_id,
              int64_t epochs, const distributed::DistributedContext* ctx);

  spdlog::logger& log() { return *logger_; }
  /// The epochs a resumed run already has (their durations feed the ETA).
  void resumed(const std::vector<EpochMetrics>& rows);
  /// At the start of epoch `epoch` (0-based) of `train_size` examples (this rank's).
  void start_epoch(int64_t epoch, int64_t train_size);
  /// After each step: a progress line when one is due (building it synchronizes with the device).
  void step(const EpochMeter& meter);
  /// The epoch's line: `row` as recorded, `examples` trained (all ranks) in `train_seconds`.
  void epoch_done(const EpochMetrics& row, int64_t examples, double train_seconds, bool frozen);
  /// Erases an in-place line (before an error is reported).
  void clear();

 private:
  void tick(const std::string& text);

  std::shared_ptr<spdlog::logger> logger_;
  int64_t run_id_;
  int64_t epochs_;
  bool tty_;
  double every_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_{};
  std::chrono::steady_clock::time_point epoch_start_{};
  int64_t epoch_ = 0;
  int64_t train_size_ = 0;
  double seconds_sum_ = 0;
  int64_t epochs_timed_ = 0;
};

}  // namespace tiebreak::train::detail
