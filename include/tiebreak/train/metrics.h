#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tiebreak::train {

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
};

nlohmann::json to_json(const EpochMetrics& row);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& row);

/// metrics.csv: header `run_id,epoch,train_loss,train_accuracy,test_loss,
/// test_accuracy,beta,batch_norm,precision,formulation,optimizer,lr,seconds,
/// ties.<layer>...,diverged,filled`, one line per row (batch_norm, diverged and
/// filled as 0/1). Doubles are written in their shortest round-trip form (NaN as
/// `nan`), so equal runs give equal files.
std::string format_metrics_csv(const std::vector<EpochMetrics>& rows);

/// metrics_study.csv: exactly the columns the study's training script wrote and its notebooks read
/// (train_with_best_lr.py): `run_id,epoch,train_loss,train_accuracy,test_loss,test_accuracy,maxpool,
/// batch_norm`, numbers as Python's repr writes them (`maxpool` always a float, e.g. `0.0`, `1000.0`; NaN as
/// `nan`) and batch_norm `True`/`False`.
std::string format_study_metrics_csv(const std::vector<EpochMetrics>& rows);

/// A double as Python's repr() writes it: shortest round trip, a `.0` on integral values, exponent form
/// below 1e-4 and from 1e16 (`1e-05`, `1e+16`), `nan`, `inf`, `-inf`.
std::string python_float(double value);

/// A parsed CSV file: header names and rows of raw fields (for compare and tests).
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  /// Index of `column` in header, or -1.
  int index(const std::string& column) const;
};
/// Reads a simple CSV file (no quoting: tiebreak never writes commas inside fields).
/// Throws a one-line error naming the file when a row has the wrong number of fields.
CsvTable read_csv(const std::filesystem::path& path);

}  // namespace tiebreak::train
