#pragma once

#include "tiebreak/train/task.h"

#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::study {

/// Median pruning (Optuna's MedianPruner): a trial is stopped after epoch
/// `epoch` when its test accuracy there is below the median of the accuracies
/// earlier trials reached at that epoch, once at least `startup_trials` of them
/// got that far. `history[t][e]` is trial t's accuracy after epoch e + 1.
bool should_prune(const std::vector<std::vector<double>>& history, size_t epoch, double accuracy,
                  size_t startup_trials);

/// The learning rate of trial `trial`: log-uniform in [low, high], drawn from a
/// generator seeded with (seed, trial), so a search re-run samples the same rates.
double sample_learning_rate(uint64_t seed, int64_t trial, double low, double high);

struct LrSearchOptions {
  std::filesystem::path config_path;
  std::vector<std::string> overrides;
  /// β values searched (one independent search each); empty = the config's β.
  std::vector<double> betas;
  int64_t trials = 10;
  /// Epochs per trial (train.epochs is set to this; the schedule spans it).
  int64_t epochs = 10;
  double low = 1e-5, high = 1e-1;
  size_t startup_trials = 3;
  std::filesystem::path out_dir;
  bool verbose = true;
};

/// One trial's result.
struct LrTrial {
  double beta = 0;
  int64_t trial = 0;
  double lr = 0;
  /// Last-epoch test accuracy (the objective); for a pruned trial, the last epoch it reached.
  double accuracy = 0;
  int64_t epochs_done = 0;
  bool pruned = false;
  bool diverged = false;
  /// The trial's training stopped with an error (recorded in its run.json); the search went on.
  bool failed = false;
  std::string error;
};

/// Searches the learning rate per β: `trials` trials of `epochs` epochs each,
/// rates sampled log-uniformly, median pruning on per-epoch test accuracy,
/// objective = the last epoch's test accuracy. Trials train into
/// `out_dir`/beta=<β>/trial-<k>/ (a complete trial is reused when the search is
/// re-run, a failed one trained again); writes `out_dir`/trials.csv (every
/// trial; `failed` = 1 for a trial whose training stopped with an error, which
/// does not stop the search) and `out_dir`/best_lr.csv (columns beta, lr,
/// accuracy: the best unpruned, successful trial per β). Returns the trials;
/// throws a one-line error, after writing both files, when every trial of a β failed.
std::vector<LrTrial> run_lr_search(const LrSearchOptions& options, const train::Components& components);

}  // namespace tiebreak::study
