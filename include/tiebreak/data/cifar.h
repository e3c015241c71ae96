#pragma once

#include "tiebreak/data/tensor_dataset.h"

#include <filesystem>
#include <memory>
#include <vector>

namespace tiebreak::data {

/// Reads CIFAR binary record files (gzipped or raw) into one split. A record is `label_bytes`
/// label bytes (CIFAR-10: 1; CIFAR-100: coarse then fine, the fine label is used) followed by a
/// 3×32×32 image in planar RGB. Any whole number of records loads; a file that is empty or not
/// a whole number of records, or a label ≥ num_classes, is a DataError naming the file.
ImageTensors read_cifar_records(const std::string& dataset, const std::vector<std::filesystem::path>& files,
                                int64_t label_bytes, int64_t num_classes, bool verify_checksums);

/// CIFAR-10 (data_batch_1..5.bin / test_batch.bin) or CIFAR-100 (train.bin / test.bin) by
/// options.name(); files overridable per split. CIFAR normalization; RandomCrop(32, padding 4)
/// and horizontal flip on the training split when options.augment().
std::shared_ptr<TensorDataset> make_cifar_dataset(const DataOptions& options);

}  // namespace tiebreak::data
