#pragma once

#include "tiebreak/data/tensor_dataset.h"

#include <filesystem>
#include <memory>

namespace tiebreak::data {

/// Reads an SVHN cropped-digits .mat file (format 2) through libmatio: X is uint8
/// 32×32×3×N (MATLAB column-major), y is N×1 with labels 1..10 where 10 means digit 0.
/// Returns uint8 [N, 3, 32, 32] and int64 labels 0..9.
ImageTensors read_svhn_mat(const std::filesystem::path& path);

/// SVHN from train_32x32.mat / test_32x32.mat (plus extra_32x32.mat in training when
/// options.svhn_extra()). Normalization (0.5, 0.5), no augmentation.
std::shared_ptr<TensorDataset> make_svhn_dataset(const DataOptions& options);

}  // namespace tiebreak::data
