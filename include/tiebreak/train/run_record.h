#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/core/enum_names.h"
#include "tiebreak/core/run_lock.h"
#include "tiebreak/core/tensorboard.h"
#include "tiebreak/train/metrics.h"

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tiebreak::distributed {
class DistributedContext;
}  // namespace tiebreak::distributed

namespace tiebreak::train {

/// Where a run stands, as recorded in its run.json.
/// Stopped: train.stop_after_epoch or the caller's on_epoch ended it early; Interrupted: SIGINT/SIGTERM
/// (StopOnSignals) ended it, its last checkpoint kept. Both continue with --resume.
enum class RunStatus { Running, Stopped, Finished, Diverged, Failed, Interrupted };
/// The names run.json's `status` spells them with.
constexpr std::array<core::EnumName<RunStatus>, 6> enum_names(RunStatus) {
  return {{{RunStatus::Running, "running"},
           {RunStatus::Stopped, "stopped"},
           {RunStatus::Finished, "finished"},
           {RunStatus::Diverged, "diverged"},
           {RunStatus::Failed, "failed"},
           {RunStatus::Interrupted, "interrupted"}}};
}
inline std::string to_string(RunStatus status) { return core::enum_name(status); }
/// Finished and Diverged runs are results: sweeps skip them.
bool is_complete(RunStatus status);

/// The status in `run_dir`/run.json, or nullopt when there is none (or it is unreadable).
std::optional<RunStatus> read_run_status(const std::filesystem::path& run_dir);

struct RunOutcome {
  RunStatus status = RunStatus::Running;
  std::vector<EpochMetrics> rows;
};

/// What identifies a run's computation in its config: everything but where and how it executes (exp,
/// sweep, zones, train.stop_after_epoch, the zone probe, which measures without changing the run, and
/// data.root, so that a run resumes after its data moved). Resuming with another identity is refused.
nlohmann::json run_identity(nlohmann::json config);

/// A run directory's record of the run: the directory lock, the resume identity check, run.json (status,
/// sessions, seeds, device, build, timings) and the metrics files and checkpoint metadata written after
/// each epoch, and the TensorBoard logs exported from them (core/tensorboard.h, when wanted). Only the main
/// rank writes; the others keep the same state and write nothing.
///
/// Example:
/// ```
/// RunRecord record(loaded, dir, /*run_id=*/0, /*resume=*/true, command_line, seed, nullptr);
/// if (auto done = record.completed()) return *done;   // finished before: nothing to do
/// record.start(device);                                 // run.json: running
/// ... record.persist_epochs(rows, epochs_done); ...
/// record.finish(outcome);                               // run.json: finished / diverged
/// ```
class RunRecord {
 public:
  /// Opens `dir` for run `run_id`: takes its lock (main rank) and reads its previous state. Throws when
  /// the directory holds a run and `resume` is false, or when resuming with a config whose run_identity
  /// differs from the stored config.json (naming the first differing JSON path). With `ctx`, every rank
  /// has read the previous state before this returns.
  RunRecord(const config::LoadedConfig& loaded, std::filesystem::path dir, int64_t run_id, bool resume,
            std::string command_line, uint64_t run_seed, distributed::DistributedContext* ctx);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path checkpoint() const { return dir_ / "checkpoint.pt"; }
  /// The run's outcome when `resume` found it complete (finished or diverged): nothing is to be done.
  const std::optional<RunOutcome>& completed() const { return completed_; }
  /// The status of the previous attempt when it ended before its first epoch was recorded (it restarts).
  std::optional<RunStatus> restarted_from() const { return restart_ ? previous_ : std::nullopt; }

  /// Marks the run running on `device`: config.json and run.json written (stale temporary files of an
  /// interrupted write removed first).
  void start(const c10::Device& device);
  /// Keeps `dir`/tensorboard up to date after each persisted epoch (main rank, unless tensorboard_wanted()
  /// is false); `warn` gets the one line said when the logs cannot be written. run.json's "tensorboard"
  /// records the export's status.
  void export_tensorboard(std::function<void(const std::string&)> warn);
  /// Sets a run.json field (written with the next update).
  void set(const std::string& key, nlohmann::json value) { run_[key] = std::move(value); }
  /// After an epoch: the checkpoint (with `checkpoint_meta`, unless exp.checkpoint is false, by `save`),
  /// metrics.csv, metrics_study.csv and run.json's progress fields.
  void persist_epochs(const std::vector<EpochMetrics>& rows, int64_t epochs_done,
                      const std::function<void(const std::filesystem::path&)>& save_checkpoint);
  /// Stopped early (resumable).
  void stop();
  /// Finished or diverged (the last row's diverged), with its final and best test accuracies.
  void finish(RunOutcome& outcome);
  /// Interrupted by `signal`; never throws.
  void interrupt(int signal) noexcept;
  /// Failed with `error` (one line); never throws.
  void fail(const std::string& error) noexcept;

 private:
  void write();

  const config::LoadedConfig& loaded_;
  std::filesystem::path dir_;
  bool main_rank_;
  std::optional<DirectoryLock> lock_;
  std::optional<RunStatus> previous_;
  bool restart_ = false;
  std::optional<RunOutcome> completed_;
  nlohmann::json run_;
  std::chrono::steady_clock::time_point started_;
  std::optional<TensorBoardExport> tensorboard_;
};

}  // namespace tiebreak::train
