#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace tiebreak::study {

/// What one run directory holds, as compare needs it.
struct RunRecord {
  std::filesystem::path dir;
  nlohmann::json config;
  std::string status;
  int64_t epochs = 0;
  double final_test_accuracy = 0;
  double best_test_accuracy = 0;
  /// Ended non-finite (the last row's diverged flag, or status diverged).
  bool diverged = false;
  /// Per row of metrics.csv (epochs from 0): the test accuracy and the diverged flag.
  std::vector<double> test_accuracies;
  std::vector<bool> diverged_rows;
  /// The zone probe's columns summed over the epochs (metrics.csv has them when train.zone_probe was on):
  /// finite probes and those above threshold. -1 when the run has no probe columns.
  int64_t zone_probes = -1;
  int64_t zone_above_threshold = 0;
};

/// Every run directory (one holding metrics.csv and config.json) under `roots`, sorted by path.
/// A malformed metrics.csv or config.json is a one-line error naming it.
std::vector<RunRecord> collect_runs(const std::vector<std::filesystem::path>& roots);

/// Runs grouped by β × precision × every other config key whose value differs
/// between runs (seeds, run counts and `exp` excluded); accuracies are fractions.
struct CompareGroup {
  std::vector<std::string> key;  // one value per Comparison::columns entry
  int64_t runs = 0;              // complete runs (finished or diverged)
  int64_t diverged = 0;
  int64_t incomplete = 0;   // running, stopped, interrupted or failed: not in the statistics
  int64_t interrupted = 0;  // of the incomplete, those SIGINT/SIGTERM stopped (--resume continues them)
  double final_mean = 0, final_std = 0, best_mean = 0, best_std = 0;
  /// The zone volume along the trajectory, pooled over the complete runs' probes: probes above threshold /
  /// finite probes, with its Wilson 95% interval (zone_probes = 0 when no run probed).
  int64_t zone_probes = 0;
  int64_t zone_above_threshold = 0;
  double zone_volume_low = 0, zone_volume_high = 1;
};

struct Comparison {
  /// Grouping columns: "precision", the other varied keys, then "beta".
  std::vector<std::string> columns;
  std::vector<CompareGroup> groups;
  /// Some run has zone-probe columns: the table and CSV show the zone volume.
  bool zone_probe = false;
};

/// Groups `runs`; std is the sample standard deviation (NaN for a single run, and for none).
Comparison compare_runs(const std::vector<RunRecord>& runs);

/// An aligned terminal table: accuracies in percent, "mean ± std" ("mean ±    -" for a single run).
std::string format_comparison_table(const Comparison& comparison);
/// CSV: the grouping columns, runs, diverged, incomplete, final_mean, final_std, best_mean, best_std
/// (fractions; a single run's std is `nan`), interrupted, and with zone_probe also zone_probes,
/// zone_above_threshold, zone_volume, zone_volume_low, zone_volume_high.
std::string format_comparison_csv(const Comparison& comparison);

}  // namespace tiebreak::study
