#pragma once

#include "tiebreak/train/precision.h"

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace tiebreak::train {

/// Everything a run needs to continue exactly where it stopped. `meta` carries
/// the epoch, metrics so far and identity checks (format, optimizer, precision);
/// the tensors travel in the same file.
struct CheckpointParts {
  torch::nn::Module* model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  /// Null when the precision does not scale the loss.
  DynamicLossScaler* scaler = nullptr;
};

/// Writes model parameters and buffers, optimizer state (INNAprop's ψ and v
/// included), loss-scaler state, the CPU (and, when present, every CUDA)
/// generator's state and `meta` to `path`, atomically (see write_atomically).
void save_checkpoint(const std::filesystem::path& path, const CheckpointParts& parts,
                     const nlohmann::json& meta);

/// Restores what save_checkpoint wrote into already-built `parts` and returns
/// its `meta`. Every tensor is checked for name, shape and dtype before any is
/// copied; a truncated, corrupt or incompatible file is a one-line error naming
/// `path` (a c10::Error), never a partial restore.
nlohmann::json load_checkpoint(const std::filesystem::path& path, const CheckpointParts& parts);

/// Reads only `meta` (e.g. to show how far a run got); same errors as load_checkpoint.
nlohmann::json read_checkpoint_meta(const std::filesystem::path& path);

}  // namespace tiebreak::train
