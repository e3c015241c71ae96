#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tiebreak::train {

/// What the zone probe (`train.zone_probe`, zones::ZoneProbe) measured over one epoch's training steps: at
/// each probe step, D = the discrepancy between the gradients of the current weights and mini-batch under
/// the pair's two Jacobian choices.
struct ZoneProbeMetrics {
  /// "linf" (D∞ = Σ_k ‖Δ∇_k‖_∞) or "l1" (D₁ = Σ_k ‖Δ∇_k‖_1).
  std::string norm = "linf";
  double threshold = 0;
  /// Probe steps in the epoch.
  int64_t probes = 0;
  /// Probes whose gradients overflowed (D not finite): left out of everything below.
  int64_t non_finite = 0;
  /// Probes with D > threshold, and their Wilson 95% interval as a fraction of the finite probes.
  int64_t above_threshold = 0;
  double volume_low = 0;
  double volume_high = 1;
  /// Median and largest finite D (NaN without finite probes).
  double median = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
  /// zones::classify of each finite probe: D = 0 (none), a tie surviving in fp64 (bifurcation), none
  /// surviving (compensation), not classified (unresolved: fp64 runs, or classify off).
  int64_t bifurcation = 0;
  int64_t compensation = 0;
  int64_t unresolved = 0;
  int64_t none = 0;

  int64_t finite() const { return probes - non_finite; }
  /// The zone volume along the trajectory: above_threshold / finite probes (NaN without finite probes).
  double volume() const {
    return finite() == 0 ? std::numeric_limits<double>::quiet_NaN()
                         : static_cast<double>(above_threshold) / static_cast<double>(finite());
  }
};

/// One row of metrics.csv: what one epoch of one run produced. Epochs are numbered from 0 as in the study;
/// accuracies are fractions in [0, 1]; losses are the mean of the mini-batch losses (the study's
/// `train_loss / len(trainloader)`).
struct EpochMetrics {
  int64_t run_id = 0;
  /// 0 = the first epoch (the study's numbering).
  int64_t epoch = 0;
  double train_loss = 0;
  double train_accuracy = 0;
  double test_loss = 0;
  double test_accuracy = 0;
  /// The MaxPool Jacobian's β (the study's column `maxpool`).
  double beta = 0;
  bool batch_norm = false;
  std::string precision;
  std::string formulation;
  std::string optimizer;
  double lr = 0;
  double seconds = 0;
  /// Tied-window fraction per pooling layer over the epoch's training passes ("features.2" → 0.31).
  std::vector<std::pair<std::string, double>> ties;
  /// The epoch's training loss was not finite, or the weights were not finite after it.
  bool diverged = false;
  /// Not trained: the weights had become non-finite in an earlier epoch, so the run stopped and filled the
  /// remaining epochs (NaN training loss and accuracy; the test metrics of the frozen, non-finite model).
  bool filled = false;
  /// Set when the run probes zones (train.zone_probe.every > 0) and this epoch was trained.
  std::optional<ZoneProbeMetrics> zone_probe;
};

nlohmann::json to_json(const EpochMetrics& row);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& row);

/// metrics.csv: header `run_id,epoch,train_loss,train_accuracy,test_loss,
/// test_accuracy,beta,batch_norm,precision,formulation,optimizer,lr,seconds,
/// ties.<layer>...,diverged,filled`, then, when any row has zone-probe metrics, `zone_norm,zone_threshold,
/// zone_probes,zone_non_finite,zone_above_threshold,zone_volume,zone_volume_low,zone_volume_high,
/// zone_d_median,zone_d_max,zone_bifurcation,zone_compensation,zone_unresolved,zone_none` (empty on rows
/// without them: filled epochs). One line per row (batch_norm, diverged and filled as 0/1). Doubles are
/// written in their shortest round-trip form (NaN as `nan`), so equal runs give equal files.
std::string format_metrics_csv(const std::vector<EpochMetrics>& rows);

/// metrics_study.csv: exactly the columns the study's training script wrote and its notebooks read
/// (train_with_best_lr.py): `run_id,epoch,train_loss,train_accuracy,test_loss,test_accuracy,maxpool,
/// batch_norm`, numbers as Python's repr writes them (`maxpool` always a float, e.g. `0.0`, `1000.0`; NaN as
/// `nan`) and batch_norm `True`/`False`.
std::string format_study_metrics_csv(const std::vector<EpochMetrics>& rows);

/// A double as Python's repr() writes it: shortest round trip, a `.0` on integral values, exponent form
/// below 1e-4 and from 1e16 (`1e-05`, `1e+16`), `nan`, `inf`, `-inf`.
std::string python_float(double value);

/// A duration in seconds as "h:mm:ss", rounded to the second ("0:01:05"), or "?" when it is negative or
/// not finite (an ETA before any progress). Progress lines of train and sweep use it.
std::string format_duration(double seconds);

}  // namespace tiebreak::train
