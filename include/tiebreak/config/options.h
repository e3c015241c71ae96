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

/// The one mapping from a config's `data` section to data::DataOptions. What the run decides, not the
/// config, comes as arguments: the batch seed, where and in which dtype the batches live, and the training
/// batch size of this rank (data.batch_size / ranks in a data-parallel run). `data.train_limit` and
/// `data.test_limit` are not DataOptions: the trainer's batch source applies them.
data::DataOptions to_data_options(const ExperimentConfig& config, uint64_t seed, c10::Device device,
                                  c10::ScalarType dtype, int64_t train_batch_size);

}  // namespace tiebreak::config
