#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tiebreak::train {

/// One row of metrics.csv: what one epoch of one run produced. Accuracies are
/// fractions in [0, 1]; `maxpool` is the study's name for β.
struct EpochMetrics {
  int64_t run_id = 0;
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  double train_accuracy = 0;
  double test_loss = 0;
  double test_accuracy = 0;
  double maxpool = 0;
  bool batch_norm = false;
  std::string precision;
  std::string formulation;
  std::string optimizer;
  double lr = 0;
  double seconds = 0;
  /// Tied-window fraction per pooling layer over the epoch's training passes ("features.2" → 0.31).
  std::vector<std::pair<std::string, double>> ties;
  bool diverged = false;
};

nlohmann::json to_json(const EpochMetrics& row);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& row);

/// metrics.csv: header `run_id,epoch,train_loss,train_accuracy,test_loss,
/// test_accuracy,maxpool,batch_norm,precision,formulation,optimizer,lr,seconds,
/// ties.<layer>...,diverged`, one line per row. Doubles are written in their
/// shortest round-trip form (NaN as `nan`), so equal runs give equal files.
std::string format_metrics_csv(const std::vector<EpochMetrics>& rows);

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
