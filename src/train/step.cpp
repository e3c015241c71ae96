#include "tiebreak/train/step.h"

#include "tiebreak/distributed/gradient_reducer.h"

namespace tiebreak::train {

StepOutput train_step(Model& model, torch::optim::Optimizer& optimizer, const PrecisionPlan& plan,
                      const torch::Device& device, const Batch& batch, DynamicLossScaler* scaler,
                      distributed::GradientAllReducer* reducer) {
  auto x = batch.inputs.to(device, plan.parameter_dtype, /*non_blocking=*/true);
  auto y = batch.targets.to(device, /*non_blocking=*/true);
  optimizer.zero_grad();
  torch::Tensor logits, loss;
  {
    PrecisionGuard guard(plan, device.type());
    logits = model.forward(x);
    loss = torch::nn::functional::cross_entropy(logits, y);
  }
  if (reducer) reducer->prepare_for_backward();
  if (scaler) {
    scaler->scale(loss).backward();
    scaler->step(optimizer);
    scaler->update();
  } else {
    loss.backward();
    optimizer.step();
  }
  return {logits.detach(), loss.detach(), y};
}

}  // namespace tiebreak::train
