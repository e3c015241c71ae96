#pragma once

#include "tiebreak/config/config.h"

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

namespace tiebreak::train {

/// The optimizer a config names, over `params`: torch::optim::SGD (momentum,
/// weight decay, Nesterov), Adam, AdamW, or tiebreak's INNAprop.
///
/// Example:
/// ```
/// auto opt = make_optimizer(config.train.optimizer, model->parameters());
/// ```
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::OptimizerConfig& options,
                                                        std::vector<torch::Tensor> params);

/// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

/// The learning rate of epoch `epoch` (0-based) of `epochs`, stepped once per
/// epoch as the study did: constant; cosine = torch's CosineAnnealingLR with
/// T_max = epochs and eta_min = 0, in its closed form
/// lr·(1 + cos(π·epoch/epochs))/2; step = lr·γ^⌊epoch/step_size⌋ (StepLR).
/// A pure function of the epoch, so a resumed run needs no scheduler state.
double learning_rate_at(const config::ScheduleConfig& schedule, double base_lr, int64_t epoch,
                        int64_t epochs);

}  // namespace tiebreak::train
