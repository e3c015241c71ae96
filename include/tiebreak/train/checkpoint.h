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
/// generator's state and `meta` to `path`, atomically (see write_atomically):
/// LibTorch's zip archive, every record with its CRC-32. A failed write (disk
/// full, quota) is a one-line c10::Error naming `path`; the previous checkpoint
/// is left as it was and no temporary file stays behind.
void save_checkpoint(const std::filesystem::path& path, const CheckpointParts& parts,
                     const nlohmann::json& meta);

/// Restores what save_checkpoint wrote into already-built `parts` and returns
/// its `meta`. First every record's CRC-32 is verified (LibTorch itself does
/// not), so a flipped bit or overwritten bytes anywhere in the file are
/// "<path>: damaged checkpoint, refusing to use it ..."; then every tensor is
/// checked for name, shape and dtype before any is copied. A damaged,
/// truncated or incompatible file is a one-line c10::Error naming `path`, never
/// a partial restore.
nlohmann::json load_checkpoint(const std::filesystem::path& path, const CheckpointParts& parts);

/// Reads only `meta` (e.g. to show how far a run got). Verifies the CRC-32s of
/// the small records (the metadata's among them), not of the tensor payloads,
/// so it stays cheap for large models; otherwise the same errors as load_checkpoint.
nlohmann::json read_checkpoint_meta(const std::filesystem::path& path);

}  // namespace tiebreak::train
