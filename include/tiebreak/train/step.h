#pragma once

#include "tiebreak/train/precision.h"
#include "tiebreak/train/task.h"

#include <torch/torch.h>

namespace tiebreak::distributed {
class GradientAllReducer;
}  // namespace tiebreak::distributed

namespace tiebreak::train {

/// What a training step leaves for the epoch's statistics (all detached, on the
/// step's device).
struct StepOutput {
  torch::Tensor logits;
  torch::Tensor loss;
  torch::Tensor targets;
};

/// One optimization step on `batch`, the one the trainer runs (and the training
/// benchmark times): the batch moved to `device` in the plan's parameter dtype,
/// forward and cross-entropy under the plan's PrecisionGuard, backward (through
/// `scaler` when the plan scales the loss; `reducer`, when given, all-reduces
/// the gradients during backward), optimizer step.
///
/// Example:
/// ```
/// data->for_each_train_batch(epoch, [&](const Batch& batch) {
///   auto out = train_step(model, *optimizer, plan, device, batch);
/// });
/// ```
StepOutput train_step(Model& model, torch::optim::Optimizer& optimizer, const PrecisionPlan& plan,
                      const torch::Device& device, const Batch& batch, DynamicLossScaler* scaler = nullptr,
                      distributed::GradientAllReducer* reducer = nullptr);

}  // namespace tiebreak::train
