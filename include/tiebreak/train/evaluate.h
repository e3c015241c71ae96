#pragma once

#include "tiebreak/train/precision.h"
#include "tiebreak/train/task.h"

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tiebreak::train {

/// One pass over a test set, summed (not averaged) so that data-parallel ranks can add theirs.
struct EvaluationSums {
  /// Sum of the mini-batch mean losses (float64 scalar on the device): the study's test loss is this over
  /// `batches`.
  torch::Tensor loss_sum;
  /// Correctly classified examples (int64 scalar on the device).
  torch::Tensor correct;
  int64_t examples = 0;
  int64_t batches = 0;
};

/// The test pass the trainer runs after every epoch, as the study's `test()` did: `model` in eval mode,
/// no gradients, inputs in the parameters' dtype, cross-entropy, and the precision's evaluation plan
/// (no autocast: mixed precision evaluates in fp32; 16-bit plans keep their fp32 accumulation on the CPU).
/// The caller sets the model's mode and its tie counters. `before_batch`, when given, runs before each
/// batch (the trainer's stop point: a signal ends the pass there by throwing).
EvaluationSums evaluation_sums(Model& model, BatchSource& data, const PrecisionPlan& plan, c10::Device device,
                               const std::function<void()>& before_batch = {});

/// What `tiebreak evaluate` reports for a checkpoint.
struct CheckpointEvaluation {
  std::filesystem::path checkpoint;
  /// Epochs the checkpoint had trained.
  int64_t epochs = 0;
  std::string device;
  int64_t examples = 0;
  double test_loss = 0;
  double test_accuracy = 0;
  /// Per pooling layer, the fraction of its windows with several equal maxima over the test pass.
  std::vector<std::pair<std::string, double>> ties;
};

/// Loads the run `path` names (a run directory holding config.json and checkpoint.pt, or a checkpoint file
/// beside its config.json), with `overrides` applied to its config (data.* to evaluate on other data:
/// `data.test_limit`, `data.root`, `data.files.test`; what changes the model is refused by the checkpoint's
/// shape and dtype checks), restores the weights (the checkpoint's CRC-32s verified first), and runs the
/// test pass on the config's device. Errors (no config, no checkpoint, a damaged or mismatched one, missing
/// data) are one-line c10::Errors naming the file.
CheckpointEvaluation evaluate_checkpoint(const std::filesystem::path& path,
                                         const std::vector<std::string>& overrides,
                                         const Components& components);

}  // namespace tiebreak::train
