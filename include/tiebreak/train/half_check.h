#pragma once

// `tiebreak half-check`: does train.half_compute=fp32_accumulate compute what
// LibTorch's own 16-bit kernels compute, for this config's model and data on
// this machine? (issue 14 §1; docs/training.md, "Half precision on the CPU").

#include "tiebreak/config/config.h"
#include "tiebreak/precision/equivalence.h"
#include "tiebreak/train/task.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tiebreak::train {

struct HalfCheckOptions {
  /// Training batches of epoch 0 (the run's shuffled order) to compare on.
  int64_t batches = 1;
};

/// One pooling layer's tie masks on the same batch and weights: forward with
/// the native kernels against forward with fp32 accumulation.
struct TieAgreement {
  /// The layer's name in the model, e.g. "features.pool1".
  std::string layer;
  int64_t windows = 0;
  /// Windows with two or more equal maxima, per path.
  int64_t ties_native = 0;
  int64_t ties_fp32_accumulate = 0;
  /// Windows tied in one path and not in the other.
  int64_t differing_windows = 0;
};

/// One parameter's gradient after a whole forward and backward of each path
/// (the differences of all the operators, propagated through the network).
struct GradientAgreement {
  std::string parameter;
  int64_t elements = 0;
  int64_t differing = 0;
  int64_t max_ulp_distance = 0;
};

struct HalfCheckReport {
  /// e.g. "lenet5 on mnist (60000 train / 10000 test), fp16, 1 batch of 128".
  std::string description;
  /// Per operator, layer and product: on the same operands (precision::Fp32AccumulateProbe).
  std::vector<precision::ProductComparison> operations;
  std::vector<TieAgreement> ties;
  std::vector<GradientAgreement> gradients;
};

/// Builds `config`'s model and data (train.precision fp16 or bf16, exp.device
/// the CPU) with the run's seed and compares, on the first `options.batches`
/// training batches, with the weights as initialised: every intercepted
/// operator's forward and backward results (native kernels vs fp32
/// accumulation, each vs fp64, on the same operands), the tie masks of every
/// pooling layer, and each parameter's gradient after a whole step of each
/// path. Throws c10::Error naming the field for another precision or device.
///
/// Example:
/// ```
/// auto loaded = config::load_config("configs/paper/mnist_lenet5_sgd_nobn_fp16.json");
/// auto report = check_half_compute(loaded.config, default_components());
/// std::cout << format_half_check(report);
/// ```
HalfCheckReport check_half_compute(const config::ExperimentConfig& config, const Components& components,
                                   const HalfCheckOptions& options = {});

/// The report as three tables (operations, ties, gradients), ulps as integers
/// and errors against fp64 with two decimals.
std::string format_half_check(const HalfCheckReport& report);

/// The report as JSON (infinite errors as null).
nlohmann::json to_json(const HalfCheckReport& report);

}  // namespace tiebreak::train
