#pragma once

#include "tiebreak/train/precision.h"
#include "tiebreak/train/task.h"

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tiebreak::train {

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
