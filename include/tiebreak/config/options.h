#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/data/options.h"
#include "tiebreak/models/options.h"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

namespace tiebreak::config {

/// The one mapping from a config to the options of the model it names: `model` and `nonsmooth` (every
/// pooling layer and ReLU gets the section's β, formulation, grad_at_zero and α), for images of `channels` ×
/// `image_size` × `image_size` in `num_classes` classes, weights drawn from `seed`.
/// (`exp.distributed.sync_batch_norm` is no model option: the trainer converts the built model,
/// distributed::convert_sync_batch_norm.)
///
/// Example:
/// ```
/// auto model = models::make_model(to_model_options(loaded.config, 1, 28, 10, /*seed=*/0));
/// ```
models::ModelOptions to_model_options(const ExperimentConfig& config, int64_t channels, int64_t image_size,
                                      int64_t num_classes, uint64_t seed);

/// The one mapping from a config's `data` section to data::DataOptions (every key of the section,
/// `data.train_limit`/`data.test_limit` included; the training batch is `data.batch_size`, the global
/// batch). What the run decides, not the config, comes as arguments: the batch seed (the run's seed), where
/// and in which dtype the batches live. A data-parallel rank then sets its own part of the batch:
/// `.train_batch_size(data.batch_size / world_size)`.
///
/// Example:
/// ```
/// auto mnist = data::make_dataset(to_data_options(loaded.config, run_seed, torch::kCUDA, torch::kHalf));
/// ```
data::DataOptions to_data_options(const ExperimentConfig& config, uint64_t seed = 0,
                                  c10::Device device = c10::kCPU, c10::ScalarType dtype = c10::kFloat);

}  // namespace tiebreak::config
