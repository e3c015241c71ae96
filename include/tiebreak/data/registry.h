#pragma once

#include "tiebreak/data/dataset.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tiebreak::data {

/// `explicit_root` (from --data-root or DataOptions::root) if not empty, else `$TIEBREAK_DATA`,
/// else `./data`.
std::filesystem::path resolve_data_root(const std::string& explicit_root = "");

/// The folder of dataset `name` under `root` (`root/<name>`); for fashion-mnist, when that
/// folder lacks the training images, Debian's /usr/share/datasets/fashion-mnist if it has them.
std::filesystem::path dataset_dir(const std::string& name, const std::filesystem::path& root);

/// The registry name for `name`, accepting common spellings ("CIFAR10", "fashion_mnist");
/// an unknown name is a DataError listing the known ones.
std::string canonical_dataset_name(const std::string& name);

/// Registered names, sorted.
std::vector<std::string> dataset_names();

/// Builds a dataset from options (options.name() is already canonical).
using DatasetFactory = std::function<std::shared_ptr<Dataset>(const DataOptions&)>;

/// Adds (or replaces) a dataset under `name`.
void register_dataset(const std::string& name, DatasetFactory factory);

/// The dataset `name` with `options` (whose name is set to the canonical `name`).
std::shared_ptr<Dataset> make_dataset(const std::string& name, DataOptions options = DataOptions());

/// The dataset options.name() with `options`.
std::shared_ptr<Dataset> make_dataset(const DataOptions& options);

}  // namespace tiebreak::data
