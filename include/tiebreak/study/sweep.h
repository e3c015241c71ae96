#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/study/grid.h"
#include "tiebreak/train/task.h"

#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::study {

/// A sweep: a config trained at every point of a grid, `runs` runs per point, one directory per point
/// (`out_dir/<point name>/run-K`).
struct SweepOptions {
  std::filesystem::path config_path;
  /// `key=value` overrides applied to every point before the grid's.
  std::vector<std::string> overrides;
  std::vector<GridAxis> axes;
  /// Runs per point (train.runs); 0 keeps the config's.
  int64_t runs = 0;
  /// This process trains shard `shard_index` of `shard_count` (shard_units).
  int64_t shard_index = 0;
  int64_t shard_count = 1;
  /// Concurrent runs: 1 trains in this process, more start child processes of this program
  /// (`tiebreak train ... --run-id K --resume`) through a LocalProcessPool.
  int64_t jobs = 1;
  /// GPUs of this machine for the child processes (ProcessPoolOptions::gpus); not empty: children even when
  /// jobs == 1.
  std::vector<std::string> gpus;
  std::filesystem::path out_dir;
  /// Print a line per started/finished run.
  bool verbose = true;
  /// Recorded in the output directory's lock (what a second sweep's refusal names).
  std::string command_line;
};

/// A sweep's points with their configs, resolved and validated.
struct ResolvedSweep {
  std::vector<GridPoint> points;
  /// Per point: its overrides (point_overrides) and the config they give.
  std::vector<std::vector<std::string>> overrides;
  std::vector<config::LoadedConfig> configs;
  /// train.runs of the points (the same for every point: runs is not a grid key).
  int64_t runs = 0;
};

/// Expands the grid and loads every point's config (config::load_config), so that a bad value fails before
/// anything trains. Errors: the grid's (expand_grid), a point's config error (naming the key and the
/// override that gave it), points that disagree on train.runs.
ResolvedSweep resolve_sweep(const SweepOptions& options);

struct SweepSummary {
  int64_t skipped = 0;  // already finished or diverged
  int64_t finished = 0;
  int64_t diverged = 0;
  int64_t failed = 0;
  int64_t stopped = 0;
  int64_t interrupted = 0;  // stopped by SIGINT/SIGTERM, checkpoint kept; re-running continues them
  /// The signal that stopped the sweep (under StopOnSignals), 0 when none did.
  int signal = 0;
};

/// Runs a sweep: resolves every point (resolve_sweep) and checks that what it names can be built
/// (train::check_runnable: dataset, data files, model on its images), so that a bad one stops the sweep
/// before anything is created or trains; locks `out_dir` against a second sweep (DirectoryLock, one lock per
/// shard), writes `out_dir`/sweep.json, then trains every unit of this shard whose run.json is not
/// finished/diverged (resuming from its checkpoint). A diverged or failed run does not stop the others.
/// `components` is used when the runs train in this process and for the checks.
///
/// Stopping: under StopOnSignals, a SIGINT/SIGTERM stops the sweep. In process (jobs == 1) the running run
/// stops at its next step; with child processes the signal is forwarded once to every running child and the
/// sweep waits for them; either way no further run starts, the runs stopped are counted as interrupted (their
/// checkpoints kept) and SweepSummary::signal says which signal it was.
///
/// Errors: options.jobs < 1 or options.runs < 0, and resolve_sweep's, as one-line c10::Errors before
/// anything is written; a second sweep on the same directory and shard (DirectoryLock).
///
/// Example:
/// ```
/// SweepOptions options;
/// options.config_path = "configs/quickstart.json";
/// options.axes = {parse_grid_axis("nonsmooth.beta=0,1")};
/// options.out_dir = "runs/beta";
/// auto summary = run_sweep(options, train::default_components());
/// ```
SweepSummary run_sweep(const SweepOptions& options, const train::Components& components);

}  // namespace tiebreak::study
