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

/// The logits and the cross-entropy loss of `x` (on the device, in the plan's parameter dtype) against
/// `y`, computed under the plan's PrecisionGuard: the forward of every training step, and of the zone
/// probe's repeated steps.
StepOutput forward_loss(Model& model, const PrecisionPlan& plan, const torch::Device& device,
                        const torch::Tensor& x, const torch::Tensor& y);

/// What a StepProbe sees of a training step after its backward: the run's gradients are in the
/// parameters' .grad (scaled by `scaler`'s current scale when there is one).
struct ProbedStep {
  Model& model;
  const PrecisionPlan& plan;
  torch::Device device;
  /// The mini-batch as the forward received it (device, dtype).
  const torch::Tensor& inputs;
  const torch::Tensor& targets;
  const DynamicLossScaler* scaler;
  /// The step's (unscaled) loss, whose autograd graph the run's backward kept: a probe may run backward
  /// through it again (ops::SavedJacobians) instead of repeating the forward.
  const torch::Tensor& loss;
};

/// Something that measures training steps without changing them (zones::ZoneProbe). train_step calls
/// `begin_step` before every forward; when it returns true, `measure` is called after the run's
/// backward (which then keeps the graph) and before the update. `measure` must leave everything the update
/// and later steps read as it found it: the gradients, the random number generators, the module's buffers and
/// options, the loss scaler.
class StepProbe {
 public:
  virtual ~StepProbe() = default;
  /// Whether the coming step is measured (may prepare the forward, e.g. record tie masks).
  virtual bool begin_step() = 0;
  virtual void measure(const ProbedStep& step) = 0;
};

/// The backward of a step's loss: through `scaler` (its current scale) when given, with `reducer`, when
/// given, all-reducing the gradients over the ranks as they are produced. The parameters' .grad then hold
/// the (scaled) gradients. The second half of a step, after forward_loss; the zone probe repeats it with
/// another Jacobian choice. `retain_graph` keeps the graph for another backward (as torch's).
void backward(const torch::Tensor& loss, const DynamicLossScaler* scaler = nullptr,
              distributed::GradientAllReducer* reducer = nullptr, bool retain_graph = false);

/// The update of a step whose gradients backward() left: `optimizer.step()`, or with a `scaler` its
/// skip-on-overflow step followed by the scale update (as PyTorch's GradScaler.step + update). Returns
/// whether the optimizer stepped.
bool apply_update(torch::optim::Optimizer& optimizer, DynamicLossScaler* scaler = nullptr);

/// One optimization step on `batch`, the one the trainer runs (and the training
/// benchmark times): the batch moved to `device` in the plan's parameter dtype,
/// forward_loss, backward (through `scaler` when the plan scales the loss;
/// `reducer`, when given, all-reduces the gradients during backward) and
/// apply_update. A `probe` measures the steps it asks for between backward and
/// update.
///
/// Example:
/// ```
/// auto stream = data->epoch(data::Split::Train, epoch);
/// while (auto batch = stream->next()) {
///   auto out = train_step(model, *optimizer, plan, device, *batch);
/// }
/// ```
StepOutput train_step(Model& model, torch::optim::Optimizer& optimizer, const PrecisionPlan& plan,
                      const torch::Device& device, const data::Batch& batch,
                      DynamicLossScaler* scaler = nullptr, distributed::GradientAllReducer* reducer = nullptr,
                      StepProbe* probe = nullptr);

}  // namespace tiebreak::train
