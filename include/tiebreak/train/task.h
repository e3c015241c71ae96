#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/data/dataset.h"
#include "tiebreak/nn/tie_counter.h"

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tiebreak::train {

/// A pooling layer whose tie counter the trainer reads each epoch.
struct NamedTieCounter {
  /// The layer's name in the model, e.g. "features.2": the metrics column is "ties.features.2".
  std::string name;
  std::shared_ptr<nn::TieCounter> counter;
};

/// A built network: its module (parameters, buffers, train/eval mode), how to
/// call it, and its pooling layers' tie counters.
struct Model {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  std::vector<NamedTieCounter> tie_counters;
};

/// How the trainer builds what a config names. The default builds the
/// registered models (tiebreak::models) and datasets (tiebreak::data); tests and
/// embedders may supply their own.
///
/// Example:
/// ```
/// Components c = default_components();
/// c.make_data = [](const config::ExperimentConfig&, const data::DataOptions& options) {
///   return std::make_shared<data::TensorDataset>(options, "blobs", data::ImageTensors{x, y},
///                                                data::ImageTensors{x_test, y_test}, 3,
///                                                data::Normalization{}, data::Augmentation{});
/// };
/// ```
struct Components {
  /// Builds the dataset `options` describe: config::to_data_options(config) with the run's seed, device,
  /// dtype and this rank's training batch (data.batch_size / ranks). The trainer asks each epoch for its
  /// rank's shard (data::Shard) and checks that every epoch yields Dataset::num_examples of it, so a
  /// dataset of one's own honours `options`' seed, batch sizes and limits and the shard it is asked for:
  /// a data::TensorDataset does.
  std::function<std::shared_ptr<data::Dataset>(const config::ExperimentConfig&, const data::DataOptions&)>
      make_data;
  /// Builds the network for `data` (its image shape and classes) with weights drawn from `seed` (the
  /// run's seed).
  std::function<Model(const config::ExperimentConfig&, const data::Dataset& data, uint64_t seed)> make_model;
};

/// tiebreak's models and datasets.
Components default_components();

}  // namespace tiebreak::train
