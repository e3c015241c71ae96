#pragma once

#include "tiebreak/data/tensor_dataset.h"

#include <filesystem>
#include <memory>

namespace tiebreak::data {

/// Reads an IDX image file (magic 0x00000803: unsigned bytes, 3 dimensions), gzipped or raw,
/// into uint8 [N, 1, H, W]. A wrong magic number or a size that disagrees with the header is a
/// DataError naming the file.
torch::Tensor read_idx_images(const std::filesystem::path& path);

/// Reads an IDX label file (magic 0x00000801) into int64 [N]; every label must be < num_classes.
torch::Tensor read_idx_labels(const std::filesystem::path& path, int64_t num_classes);

/// Reads one split from an image file and a label file and checks that the counts agree; with
/// `verify_checksums` a known original whose content differs from the reference is a DataError.
ImageTensors load_idx_split(const std::string& dataset, const std::filesystem::path& images,
                            const std::filesystem::path& labels, int64_t num_classes, bool verify_checksums);

/// MNIST, Fashion-MNIST or KMNIST (options.name()) from the original IDX files:
/// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
/// each optionally .gz. Normalization (0.5, 0.5), no augmentation.
std::shared_ptr<TensorDataset> make_idx_dataset(const DataOptions& options);

}  // namespace tiebreak::data
