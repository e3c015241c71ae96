#pragma once

#include "tiebreak/config/config.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tiebreak::study {

/// One configuration of the study, as its result files name it: dataset ("mnist", "cifar10", "svhn"), model
/// ("lenet", "vgg11", "resnet18", "densenet121"), batch norm, optimizer ("sgd", "adam"), bits (16 = all
/// fp16, 24 = mixed precision, 32 = fp32) and β (its column `maxpool`).
struct StudyKey {
  std::string dataset;
  std::string model;
  bool batch_norm = false;
  std::string optimizer;
  int bits = 32;
  double beta = 0;

  /// The configuration without β: the rows of one table, one plot.
  std::string configuration() const;  // e.g. "mnist lenet BN sgd 16 bits"
  bool operator<(const StudyKey& other) const;
  bool operator==(const StudyKey& other) const;
};

/// The study's published result for one configuration: how many runs and epochs it trained, the mean and
/// standard deviation over runs of the test accuracy after the first epoch (epoch 0), the mean after the
/// second (epoch 1; no spread was published) and at the final epoch. A diverged run's accuracy is the share
/// of class 0 in the test set.
struct StudyResult {
  StudyKey key;
  int64_t runs = 0;
  int64_t epochs = 0;
  double epoch0_mean = 0, epoch0_std = 0;
  double epoch1_mean = 0;
  double final_mean = 0, final_std = 0;
};

/// The study's numbers: results per configuration and the learning rates its search found (every β of a
/// configuration trained with the β = 0 rate).
///
/// Example:
/// ```
/// auto study = StudyReference::builtin();
/// auto r = study.result({"mnist", "lenet", false, "sgd", 32, 0.0});  // r->epoch0_mean == 0.9789
/// ```
class StudyReference {
 public:
  /// The reference shipped in the repository (reference/study/*.csv), compiled into the library.
  static StudyReference builtin();
  /// Reads a results CSV with the columns of reference/study/study_results.csv (and, when given, a
  /// learning-rate CSV with those of learning_rates.csv). A missing column or a malformed value is a one-line
  /// error naming the file, line and column.
  static StudyReference from_csv(const std::filesystem::path& results,
                                 const std::optional<std::filesystem::path>& learning_rates = std::nullopt);
  /// Parses CSV text; `source` names it in errors.
  static StudyReference parse(const std::string& results_csv, const std::string& source,
                              const std::string& learning_rates_csv = "",
                              const std::string& rates_source = "");

  const std::vector<StudyResult>& results() const { return results_; }
  std::optional<StudyResult> result(const StudyKey& key) const;
  /// The β = 0 learning rate of `key`'s configuration, if the search table has it.
  std::optional<double> learning_rate(const StudyKey& key) const;
  /// Where the numbers came from (a file, or "builtin").
  const std::string& source() const { return source_; }

 private:
  std::vector<StudyResult> results_;
  std::map<StudyKey, double> learning_rates_;  // keyed with β = 0
  std::string source_;
};

/// The share of class 0 in a dataset's test set: the accuracy of a diverged network, whose NaN outputs
/// argmax to class 0 (MNIST 980/10000, CIFAR-10 1000/10000, SVHN 1744/26032). nullopt for other datasets.
std::optional<double> class0_share(const std::string& study_dataset);

/// The study's key of a tiebreak config, or a one-line reason it has none (a dataset, model, optimizer or
/// precision the study did not train).
struct KeyOrReason {
  std::optional<StudyKey> key;
  std::string reason;
};
KeyOrReason study_key(const config::ExperimentConfig& config);

/// How a tiebreak config departs from what the study ran for its key, one short phrase each ("formulation
/// pure, the study's is mixture", "train subset: data.train_limit 12800", ...). Empty when it ran the study's
/// experiment. How long it trains is not judged here (see report.h).
std::vector<std::string> departures(const config::ExperimentConfig& config, const StudyKey& key,
                                    const StudyReference& reference);

/// How many of `runs` runs were diverged (at the share of class 0, `class0`) given only their mean and
/// sample standard deviation, assuming the others share one accuracy: a two-point mixture, whose mean and
/// spread fix the count (all when the mean is the class-0 share with no spread). Rounded; nullopt when
/// `std` is unknown (NaN) and the mean is not the class-0 share, or when the other runs' accuracy the
/// mixture implies is within 0.2 of the class-0 share (a slow first epoch: the spread is ordinary).
std::optional<int64_t> estimated_diverged_runs(double mean, double std, int64_t runs, double class0);

}  // namespace tiebreak::study
