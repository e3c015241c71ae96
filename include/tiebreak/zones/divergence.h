#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/train/task.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace tiebreak::zones {

/// Options of a weight-divergence run (see `tiebreak diverge --help`).
struct DivergenceOptions {
  /// The nonsmooth key the networks differ in, e.g. "nonsmooth.beta".
  std::string key;
  /// One network per value, in order; the first is the reference every other one is measured against. A
  /// value may repeat: a twin of the reference measures run-to-run nondeterminism.
  std::vector<nlohmann::json> values;
  /// Epochs to train; 0 = the config's train.epochs.
  int64_t epochs = 0;
  /// lr = train.optimizer.lr · (1 + lr_jitter · u), u ~ U[0, 1) drawn once from train.seed, shared by every
  /// network (the study: 0.2, i.e. 0.01 · (1 + u/5)).
  double lr_jitter = 0;
  /// Use only the first N mini-batches of each epoch (0 = all).
  int64_t batch_limit = 0;
  /// Continue from the checkpoints in `out` (one per network, written after every epoch).
  bool resume = false;
  /// Where divergence.csv, divergence.json and the checkpoints are written; empty = nothing is written.
  std::filesystem::path out;

  /// Parses "nonsmooth.beta=0,0,1,10" into key and values (at least two values, the key a field of the
  /// `nonsmooth` section).
  static DivergenceOptions parse_values(const std::string& text);
};

/// One measurement: after `epoch` epochs of training (0 = the initial weights), per network in the order of
/// DivergenceOptions::values.
struct DivergenceRecord {
  int64_t epoch = 0;
  /// Σ_p ‖w_p − w_p of the reference‖₁ (float64); 0 for the reference itself.
  std::vector<double> weight_l1;
  std::vector<double> test_accuracy;
};

/// Everything a weight-divergence run measured.
struct DivergenceResult {
  std::string key;
  std::vector<nlohmann::json> values;
  /// The learning rate every network trained with.
  double lr = 0;
  std::vector<DivergenceRecord> records;

  /// divergence.csv: `epoch,network,value,weight_l1,test_accuracy`, one row per network and measurement.
  std::string csv() const;
  /// divergence.json: key, values, lr and the records.
  nlohmann::json to_json() const;
  /// The terminal table: the last measurement per network.
  std::string table() const;
};

/// The study's weight-divergence experiment (its train_vs_weights notebook): one network per value of
/// `options.key`, all with the bit-identical initialization of train.seed, trained side by side with the
/// config's optimizer and one learning rate (see lr_jitter; the schedule is the config's), each mini-batch
/// fed to every network in turn. Before the first epoch, after each epoch and at the end, the L1 distance of
/// every network's parameters to the reference's and every network's test accuracy are recorded (the study
/// recorded at the start of each epoch: rows 0 .. epochs−1 are its points). Runs in train.precision with
/// exp.deterministic as configured: on CUDA the default (nondeterministic kernels) lets a twin of the
/// reference measure run-to-run noise; on the CPU a twin stays at distance 0. Writes divergence.csv and
/// divergence.json after every epoch and, with out set, resumable checkpoints.
///
/// Example:
/// ```
/// auto loaded = config::load_config("experiments/weight_divergence/vgg11_cifar10.json");
/// auto options = DivergenceOptions::parse_values("nonsmooth.beta=0,0,1,10,100,1000,10000");
/// options.lr_jitter = 0.2;
/// auto result = run_divergence(loaded, options);
/// ```
DivergenceResult run_divergence(const config::LoadedConfig& config, const DivergenceOptions& options,
                                const train::Components& components = train::default_components(),
                                std::ostream* log = nullptr);

}  // namespace tiebreak::zones
