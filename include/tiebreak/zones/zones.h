#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/train/task.h"
#include "tiebreak/zones/classify.h"
#include "tiebreak/zones/statistics.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace tiebreak::zones {

/// The two Jacobian choices compared: a key of the config's `nonsmooth` section and its value in network
/// a and in network b, parsed from "nonsmooth.beta=0,1".
struct PairSpec {
  std::string key;
  nlohmann::json value_a;
  nlohmann::json value_b;

  /// "nonsmooth.beta=0,1"; the key must name a field of the `nonsmooth` section.
  static PairSpec parse(const std::string& text);
  /// e.g. "nonsmooth.beta=0 vs 1".
  std::string describe() const;
};

/// Options of a zones run (see `tiebreak zones --help`).
struct ZonesOptions {
  PairSpec pair;
  std::vector<config::Precision> precisions{config::Precision::Fp16, config::Precision::Fp32,
                                            config::Precision::Fp64};
  int64_t epochs = 1;
  /// Train both networks side by side with the config's optimizer and learning rate; otherwise the
  /// learning rate is 0 (no step is taken) and the run measures the zone volume at the initial weights.
  bool train = false;
  /// A discrepancy D∞ above this is "above threshold"; precisions missing here use `default_threshold`.
  std::map<config::Precision, double> thresholds;
  /// Allow nondeterministic GPU kernels (measures the noise floor); by default the run is deterministic,
  /// so that two networks with the same Jacobian choice have D = 0 exactly.
  bool nondeterministic = false;
  /// Use only the first N mini-batches of each epoch (0 = all).
  int64_t batch_limit = 0;
  /// Recompute the forward pass in fp64 to classify each mini-batch with D > 0.
  bool classify = true;
  /// Where zones.csv and zones.json are written; empty = nothing is written.
  std::filesystem::path out;
};

/// The study's default thresholds: fp16 1e-3, bf16 1e-2, fp32 1e-7, fp64 1e-15 (amp: its compute type's).
double default_threshold(config::Precision precision);

/// Parses "fp16=1e-3,fp32=1e-7" (precisions by their config names); errors name the item, e.g.
/// "fp8=1: expected one of fp16|fp32|..., got \"fp8\"".
std::map<config::Precision, double> parse_thresholds(const std::string& text);

/// The exponent range numpy.arange(a, b) of the study's D₁ histogram bins (see StudyHistogram): MaxPool
/// (threshold_maxpool.ipynb) 16 bits (−8, 1), 32 bits (−9, 0), 64 bits (−18, −13); NormPool
/// (threshold_normpool.ipynb) (−8, 2), (−9, 2), (−18, −13). The study drew no other precision: bf16 takes
/// the 16-bit range, amp_fp16 and amp_bf16 (fp32 weights and gradients) the 32-bit one.
std::pair<int, int> study_histogram_range(config::Precision precision, nn::PoolKind pool);

/// One mini-batch of a zones run.
struct BatchRecord {
  config::Precision precision = config::Precision::Fp32;
  /// Which initialization (seed train.seed + k) of the pair.
  int64_t initialization = 0;
  int64_t epoch = 0;
  int64_t batch = 0;
  Discrepancy d;
  double loss_a = 0;
  double loss_b = 0;
  bool above_threshold = false;
  Zone zone = Zone::None;
  /// Set when the mini-batch was classified (D > 0 and a higher precision exists).
  TieComparison ties;
  /// Ties (pooling) / exact zeros (ReLU) seen by network a, per nonsmooth layer with a counter.
  std::vector<int64_t> layer_ties;
};

/// One epoch of a `train` run: how far apart the weights have moved and how both networks test.
struct EpochRecord {
  config::Precision precision = config::Precision::Fp32;
  int64_t initialization = 0;
  /// Epochs trained (1 = after the first).
  int64_t epoch = 0;
  /// Σ_k ‖w_a,k − w_b,k‖₁ after the epoch (float64).
  double weight_l1 = 0;
  double test_accuracy_a = 0;
  double test_accuracy_b = 0;
};

/// Per-layer tie totals of network a over a precision's run.
struct LayerTies {
  std::string name;
  std::string kind;  // "pool" or "relu"
  int64_t points = 0;
  int64_t ties = 0;
  int64_t max_ties = 0;
};

/// A precision's summary, over every initialization's mini-batches.
struct PrecisionSummary {
  config::Precision precision = config::Precision::Fp32;
  /// How many initializations (zones.initializations, or zones.initializations_fp64 at fp64) were pooled.
  int64_t initializations = 1;
  double threshold = 0;
  /// Mini-batches with a finite discrepancy (the denominator of the volumes).
  int64_t batches = 0;
  /// Mini-batches whose gradients overflowed (Inf/NaN discrepancy): left out of the volumes.
  int64_t non_finite = 0;
  /// Mini-batches with D∞ > 0 / D∞ > threshold, and their Wilson 95% intervals.
  int64_t nonzero = 0;
  int64_t above_threshold = 0;
  Interval nonzero_ci;
  Interval above_threshold_ci;
  /// log10 D∞ with exact zeros apart.
  Log10Histogram histogram;
  /// D₁ = Σ_p ‖∇_p a − ∇_p b‖₁ in the study's binning (its noise and NormPool histograms; the volume uses
  /// D∞), over study_histogram_range(precision, pool).
  StudyHistogram study_histogram{-9, 0};
  int64_t bifurcation = 0;
  int64_t compensation = 0;
  int64_t unresolved = 0;
  /// Summed over the classified mini-batches.
  TieComparison ties;
  std::vector<LayerTies> layers;
  std::vector<EpochRecord> epochs;

  double volume() const { return batches == 0 ? 0.0 : static_cast<double>(nonzero) / batches; }
  double volume_above_threshold() const {
    return batches == 0 ? 0.0 : static_cast<double>(above_threshold) / batches;
  }
};

/// Everything a zones run measured.
struct ZonesResult {
  std::string description;
  std::vector<std::string> layer_names;
  std::vector<BatchRecord> batches;
  std::vector<PrecisionSummary> summaries;

  /// zones.json: the options, the config, and per precision the volumes with intervals, the histogram,
  /// the classification counts, the tie statistics and (with `train`) the per-epoch divergence.
  nlohmann::json to_json() const;
  /// zones.csv: one row per mini-batch.
  std::string batches_csv() const;
  /// divergence.csv: one row per precision and epoch of a `train` run.
  std::string divergence_csv() const;
  /// The terminal summary table.
  std::string table() const;
};

/// Runs the zones experiment: for each precision and each of config.zones.initializations initializations
/// (seed train.seed + k; zones.initializations_fp64 at fp64), two networks built from `config` with
/// bit-identical initial weights, differing only in `options.pair`, fed the same mini-batches (same order,
/// same augmentation), their gradient discrepancy measured per mini-batch; the summaries pool every
/// initialization's mini-batches. Writes zones.csv, zones.json (and divergence.csv with `train`) into
/// `options.out` when set, rewritten after each precision. `log` receives progress lines.
///
/// Example:
/// ```
/// auto loaded = config::load_config("configs/paper/cifar10_vgg11.json");
/// ZonesOptions options;
/// options.pair = PairSpec::parse("nonsmooth.beta=0,1");
/// auto result = run_zones(loaded, options);
/// result.summaries[0].volume();
/// ```
ZonesResult run_zones(const config::LoadedConfig& config, const ZonesOptions& options,
                      const train::Components& components = train::default_components(),
                      std::ostream* log = nullptr);

}  // namespace tiebreak::zones
