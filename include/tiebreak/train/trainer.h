#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/distributed/launch.h"
#include "tiebreak/distributed/process_group.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/train/run_record.h"
#include "tiebreak/train/task.h"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tiebreak::train {

/// How one run is executed.
struct RunOptions {
  /// The run's own directory: config.json, run.json, metrics.csv, checkpoint.pt, train.log.
  std::filesystem::path run_dir;
  int64_t run_id = 0;
  /// Continue from run_dir/checkpoint.pt if there is one; a complete run is left as it is.
  bool resume = false;
  /// Progress on stderr: "\r" updates within an epoch on a terminal, a line every exp.log_every_seconds
  /// otherwise (also in train.log). False (`train --no-progress`): no progress line within an epoch
  /// anywhere, and the per-epoch lines in train.log only.
  bool progress = true;
  /// Recorded in run.json.
  std::string command_line;
  /// Called after each epoch's row is persisted; returning false stops the run
  /// there (status stopped, resumable), e.g. to prune a learning-rate trial.
  std::function<bool(const EpochMetrics&)> on_epoch;
  /// Data-parallel training with the peers of this context (see
  /// join_distributed_run); null trains in this process alone.
  std::shared_ptr<distributed::DistributedContext> distributed;
};

/// Trains run `run_id` of `config` (seed: run_seed()) into `options.run_dir`,
/// one row per epoch in metrics.csv and metrics_study.csv (the study's schema),
/// checkpointing after every epoch. Evaluation runs in the parameters' dtype
/// without autocast (mixed precision evaluates in fp32, as the study's test
/// pass did).
///
/// Non-finite values, as the study handled them: an epoch whose training loss
/// or final weights are not finite is recorded as measured with diverged = 1.
/// Under loss scaling (amp_fp16) training goes on, since the scaler skips the
/// non-finite steps and the run may recover. In every other precision
/// non-finite weights cannot change any more, so the run stops and fills the
/// remaining epochs with rows marked filled = 1 (NaN training loss and
/// accuracy, the frozen model's test metrics). A run whose last row is
/// diverged ends with status diverged. Errors (bad model name, unusable
/// device, incompatible checkpoint...) mark run.json failed and are rethrown.
///
/// With `options.distributed`, every rank calls this with the same arguments:
/// rank 0's initial weights are broadcast, each rank trains on its shard of
/// every epoch with data.batch_size / world_size examples per step (so the
/// global batch is data.batch_size whatever the world size), gradients are
/// averaged over the ranks during backward (GradientAllReducer), BatchNorm
/// keeps per-rank batch statistics (global ones with
/// exp.distributed.sync_batch_norm) and evaluates with rank 0's running ones,
/// and the metrics are summed over the ranks. Only rank 0 writes the run
/// directory; with `resume` every rank reads the checkpoint from it, so it
/// must be on a filesystem all ranks share. Errors are rethrown as one line
/// prefixed with the rank.
///
/// Example:
/// ```
/// auto loaded = config::load_config("configs/quickstart.json");
/// auto outcome = train_run(loaded, {.run_dir = "runs/quick/run-0"}, default_components());
/// ```
RunOutcome train_run(const config::LoadedConfig& config, const RunOptions& options,
                     const Components& components);

/// The seed of run `run_id` (weights and batch order). train.seeding "paired":
/// train.seed + run_id, the same for every β of a sweep, so run k of each β
/// starts from the same weights and sees the same batches (a paired design);
/// "independent": a hash of everything the config computes (β, precision,
/// model... but not train.epochs or train.runs), train.seed and run_id, so
/// every configuration draws its own, as the study's runs did. Below 2^63.
uint64_t run_seed(const config::LoadedConfig& config, int64_t run_id);

/// Directory of run `run_id` inside an experiment directory: `dir`/run-<id>.
std::filesystem::path run_directory(const std::filesystem::path& experiment_dir, int64_t run_id);

/// The experiment directory a config trains into without `--out`:
/// exp.output_dir / (exp.name, or the config file's stem).
std::filesystem::path default_experiment_dir(const config::LoadedConfig& config);

/// Checks, without creating or training anything, that `components` can build
/// what `config` names: the dataset (its name, root and files, read as training
/// would read them) and the model on its images (its name, and one forward pass
/// of a zero image on the CPU, so that a model that does not fit the input
/// size fails here). Errors are one line naming the config field
/// (data.dataset, model.name) or the data file. train_experiment and
/// run_sweep call it before creating their directories.
///
/// Example:
/// ```
/// check_runnable(loaded.config, default_components());  // throws "model.name: lenet5 cannot train on ..."
/// ```
void check_runnable(const config::ExperimentConfig& config, const Components& components);

/// Trains runs 0..train.runs-1 (or only `only_run`) into `experiment_dir`/run-<id>,
/// writing the resolved config.json beside them, with progress lines as RunOptions::progress says
/// (`progress` false: `train --no-progress`). Returns the outcomes in run order.
std::vector<RunOutcome> train_experiment(
    const config::LoadedConfig& config, const std::filesystem::path& experiment_dir, bool resume,
    const Components& components, std::optional<int64_t> only_run = std::nullopt,
    const std::string& command_line = "",
    std::shared_ptr<distributed::DistributedContext> distributed = nullptr, bool progress = true);

/// Joins the data-parallel job `launch` describes (see
/// distributed::launch_from_environment) with the process group and timeout of
/// config.exp.distributed, on exp.device — "auto" or "cuda" meaning
/// cuda:LOCAL_RANK under a launcher. Blocks until every rank has joined.
///
/// Example:
/// ```
/// auto launch = distributed::launch_from_environment();
/// auto ctx = launch.distributed() ? join_distributed_run(loaded.config, launch) : nullptr;
/// train_experiment(loaded, dir, false, default_components(), std::nullopt, "", ctx);
/// ```
std::shared_ptr<distributed::DistributedContext> join_distributed_run(const config::ExperimentConfig& config,
                                                                      const distributed::LaunchInfo& launch);

/// Applies exp.deterministic (deterministic algorithms, cuDNN deterministic and
/// no benchmarking, CUBLAS_WORKSPACE_CONFIG) and exp.threads to this process.
void apply_execution_settings(const config::ExpConfig& exp);

/// Resolves exp.device ("auto" → cuda:0 when CUDA is available, else cpu);
/// a CUDA device that is absent is an error naming exp.device.
c10::Device resolve_device(const std::string& device);

}  // namespace tiebreak::train
