#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/train/task.h"
#include "tiebreak/train/trainer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace tiebreak::study {

/// One `--grid key=v1,v2,...` axis: a dotted config key and its values (each
/// parsed as JSON, else a string).
struct GridAxis {
  std::string key;
  std::vector<nlohmann::json> values;
};

/// Parses "nonsmooth.beta=0,1,10"; a one-line error naming the argument when malformed.
GridAxis parse_grid_axis(const std::string& argument);

/// The config's own grid (its `sweep.grid` section), what `tiebreak sweep` runs without --grid.
std::vector<GridAxis> config_grid(const config::ExperimentConfig& config);

/// One grid point: its directory name ("beta=1000_precision=fp16") and the
/// `--set` assignments that realise it.
struct GridPoint {
  std::string name;
  std::vector<std::string> assignments;
};

/// The cartesian product of the axes, first axis slowest. Names use each key's
/// last component unless two axes share it, then the whole key.
std::vector<GridPoint> expand_grid(const std::vector<GridAxis>& axes);

/// A unit of sweep work: run `run_id` of grid point `point`.
struct SweepUnit {
  size_t point = 0;
  int64_t run_id = 0;
};

/// Units of shard `index` of `count` (0-based): unit k (point-major, then run)
/// belongs to shard k mod count, so shards are disjoint, cover the sweep, and
/// depend on nothing but the grid and the run count.
std::vector<SweepUnit> shard_units(size_t points, int64_t runs, int64_t index, int64_t count);

/// Parses "i/n" with 0 <= i < n.
std::pair<int64_t, int64_t> parse_shard(const std::string& text);

struct SweepOptions {
  std::filesystem::path config_path;
  /// `--set` assignments applied to every point before the grid's.
  std::vector<std::string> overrides;
  std::vector<GridAxis> axes;
  /// Runs per point (train.runs); 0 keeps the config's.
  int64_t runs = 0;
  int64_t shard_index = 0;
  int64_t shard_count = 1;
  /// Concurrent runs: 1 trains in this process, more start child processes of
  /// this program (`tiebreak train ... --run-id K --resume`), one per run.
  int64_t jobs = 1;
  /// GPUs of this machine for the child processes, e.g. {"0", "1", "2", "3"}:
  /// each child sees one (CUDA_VISIBLE_DEVICES) and no two running children
  /// share one, so at most gpus.size() runs go at a time. Empty: children
  /// inherit this process's devices.
  std::vector<std::string> gpus;
  std::filesystem::path out_dir;
  /// Print a line per started/finished run.
  bool verbose = true;
  /// Recorded in the output directory's lock (what a second sweep's refusal names).
  std::string command_line;
};

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

/// Runs a sweep: validates every point's config first, and checks that what it
/// names can be built (check_runnable: dataset, data files, model on its
/// images), so that a bad one stops the sweep before anything is created or
/// trains; locks `out_dir` against a second sweep (DirectoryLock, one lock per
/// shard), writes `out_dir`/sweep.json, then trains every unit of this shard
/// whose run.json is not finished/diverged (resuming from its checkpoint). A
/// diverged or failed run does not stop the others. `components` is used when
/// jobs == 1 and for the checks.
///
/// Stopping: under StopOnSignals, a SIGINT/SIGTERM stops the sweep. In
/// process (jobs == 1) the running run stops at its next step; with child
/// processes the signal is forwarded once to every running child and the sweep
/// waits for them; either way no further run starts, the runs stopped are
/// counted as interrupted (their checkpoints kept) and SweepSummary::signal
/// says which signal it was. Children also end when the sweep dies, even by
/// kill -9 (they get SIGTERM: see SpawnOptions::die_with_parent).
SweepSummary run_sweep(const SweepOptions& options, const train::Components& components);

/// How `tiebreak sweep --emit-slurm` lays a sweep out as a Slurm job array.
struct SlurmArrayOptions {
  /// Array tasks; task k trains shard k of `tasks` (see shard_units). 0 = one
  /// task per (point, run).
  int64_t tasks = 0;
  /// Extra `#SBATCH` options, e.g. "--gres=gpu:1" or "--time=12:00:00" (a
  /// leading "--" is added when missing).
  std::vector<std::string> sbatch;
  /// The tiebreak program the tasks run; empty = this one.
  std::filesystem::path executable;
};

/// An sbatch script running the sweep `options` describes as a job array:
/// task k runs `tiebreak sweep ... --shard k/N --out <out_dir>` with absolute
/// paths, so it can be submitted from anywhere; its output goes to
/// out_dir/slurm/<job>_<task>.out. Resubmitting it resumes the sweep (finished
/// runs are skipped, interrupted ones continue from their checkpoints). Every
/// point's config is validated first; options.shard_* must be 0/1.
///
/// Example:
/// ```
/// auto script = format_slurm_array_script(options, SlurmArrayOptions{.sbatch = {"--gres=gpu:1"}});
/// write_text_atomically("sweep.sbatch", script);  // then: sbatch sweep.sbatch
/// ```
std::string format_slurm_array_script(const SweepOptions& options, const SlurmArrayOptions& slurm);

}  // namespace tiebreak::study
