#pragma once

#include "tiebreak/study/reference.h"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tiebreak::study {

/// Options of a reproduction report (see `tiebreak report --help`).
struct ReportOptions {
  /// Run or sweep directories; every run directory below them (metrics.csv + config.json) is read.
  std::vector<std::filesystem::path> roots;
  /// Significance level of the tests: a difference with p < alpha (or |z| > z_alpha) "differs".
  double alpha = 0.05;
};

/// One epoch compared between tiebreak's runs of a configuration and the study's.
struct EpochComparison {
  /// "epoch 0", "epoch 1" or "final".
  std::string label;
  /// The epoch (from 0) compared; the study's final epoch is its epochs − 1.
  int64_t epoch = 0;
  int64_t runs = 0;  // tiebreak's runs that reached this epoch
  double mean = 0, std = 0;
  int64_t diverged = 0;  // tiebreak's runs diverged at this epoch
  int64_t study_runs = 0;
  double study_mean = 0;
  /// NaN where the study published no spread (epoch 1).
  double study_std = 0;
  std::optional<int64_t> study_diverged;  // estimated_diverged_runs
  /// "welch", "t1" (tiebreak's runs against the study's mean), "z" (one run in units of the study's std),
  /// "exact" (no spread on either side) or "none".
  std::string test = "none";
  /// Welch's or the one-sample t, or z; NaN for "exact"/"none".
  double statistic = 0;
  double p_value = 0;  // NaN where the test gives none
  /// "agrees", "differs", "inconclusive" or "not comparable".
  std::string verdict;
  std::string note;
};

/// tiebreak's runs of one configuration and β against the study's.
struct ReportRow {
  StudyKey key;
  /// The grouped run directories.
  std::vector<std::filesystem::path> runs;
  int64_t epochs_done = 0;  // the fewest epochs any of the runs has done
  int64_t epochs_planned = 0;
  std::string seeding;
  StudyResult study;
  std::vector<std::string> departures;
  std::vector<EpochComparison> epochs;
  /// "agrees", "differs (epoch 0)", "not comparable: ...", ...
  std::string verdict;
  /// Mean and std of tiebreak's test accuracy per epoch (from 0), over the runs that reached it.
  std::vector<double> curve_mean, curve_std;
  std::vector<int64_t> curve_runs;
  /// The zone volume along the runs' trajectories (train.zone_probe, issue 16), pooled over every epoch of
  /// every run of the row that probed: finite probes, those with D above threshold, and the Wilson 95%
  /// interval of their fraction. zone_probes = -1 when no run of the row probed.
  int64_t zone_probes = -1;
  int64_t zone_above_threshold = 0;
  double zone_volume_low = 0, zone_volume_high = 1;
};

/// What the report could not compare and why.
struct Uncompared {
  std::string what;  // a run directory or a configuration
  std::string reason;
};

struct Report {
  std::string reference_source;
  double alpha = 0.05;
  std::vector<ReportRow> rows;
  std::vector<Uncompared> uncompared;
  /// Runs that SIGINT/SIGTERM stopped (run.json status interrupted), each with the epochs it has: compared
  /// with what they have, listed in report.md so that a short curve is not mistaken for a finished one.
  std::vector<Uncompared> interrupted;

  /// report.md: per configuration a table (one row per β), the verdict rule, what could not be compared,
  /// and the plots (plots/<configuration>.png, when drawn). A configuration whose runs probed zones has a
  /// last column with the zone volume ("40.00% [21.88, 61.34] of 20").
  std::string markdown(const std::vector<std::string>& plot_files = {}) const;
  /// report.csv: one row per configuration, β and compared epoch; its last columns, zone_probes,
  /// zone_volume, zone_volume_low and zone_volume_high, are the row's zone volume (empty without probes).
  std::string csv() const;
  /// curves.csv: tiebreak's mean curve per configuration and β (what the plots draw, with the study's
  /// points).
  std::string curves_csv() const;
};

/// Builds the report: the run directories below `options.roots` grouped by their config (seeds, run counts
/// and execution settings aside), each group mapped to the study's configuration, compared at epoch 0,
/// epoch 1 and the study's final epoch where both have it. Test: Welch's t when both sides have ≥ 2 runs
/// (both without spread: equal within 0.05 percentage points), a one-sample t of tiebreak's runs against
/// the study's mean where the study has no spread (epoch 1, single runs), |z| = |Δ| / study std ≤ z_{1−α/2}
/// with one tiebreak run. A group that departs from the study's setup (formulation, init, data subset,
/// learning rate, ...) is "not comparable", its numbers shown all the same; epoch 1 needs the study's
/// schedule length (train.epochs; stop early with train.stop_after_epoch), the final epoch all of it.
///
/// Errors (one line): a root that is not a directory, no run directory below the roots, a malformed
/// metrics.csv or config.json.
Report build_report(const ReportOptions& options, const StudyReference& reference);

/// Writes report.md, report.csv and curves.csv into `out` (created), atomically each.
void write_report(const Report& report, const std::filesystem::path& out,
                  const std::vector<std::string>& plot_files = {});

/// Runs `python script out` (scripts/plot_report.py: one PNG per configuration under out/plots) and returns
/// the plot files it wrote, relative to `out`; a one-line error when Python fails.
std::vector<std::string> draw_report_plots(const std::filesystem::path& out, const std::string& python,
                                           const std::filesystem::path& script);

}  // namespace tiebreak::study
