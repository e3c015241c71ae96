#include "tiebreak/train/step.h"

#include "tiebreak/distributed/gradient_reducer.h"

namespace tiebreak::train {

StepOutput forward_loss(Model& model, const PrecisionPlan& plan, const torch::Device& device,
                        const torch::Tensor& x, const torch::Tensor& y) {
  PrecisionGuard guard(plan, device.type());
  auto logits = model.forward(x);
  auto loss = torch::nn::functional::cross_entropy(logits, y);
  return {logits, loss, y};
}

void backward(const torch::Tensor& loss, const DynamicLossScaler* scaler,
              distributed::GradientAllReducer* reducer, bool retain_graph) {
  if (reducer) reducer->prepare_for_backward();
  const auto root = scaler ? scaler->scale(loss) : loss;
  root.backward({}, retain_graph);
}

bool apply_update(torch::optim::Optimizer& optimizer, DynamicLossScaler* scaler) {
  if (!scaler) {
    optimizer.step();
    return true;
  }
  const bool stepped = scaler->step(optimizer);
  scaler->update();
  return stepped;
}

StepOutput train_step(Model& model, torch::optim::Optimizer& optimizer, const PrecisionPlan& plan,
                      const torch::Device& device, const data::Batch& batch, DynamicLossScaler* scaler,
                      distributed::GradientAllReducer* reducer, StepProbe* probe) {
  auto x = batch.images.to(device, plan.parameter_dtype, /*non_blocking=*/true);
  auto y = batch.labels.to(device, /*non_blocking=*/true);
  optimizer.zero_grad();
  const bool probed = probe != nullptr && probe->begin_step();
  auto out = forward_loss(model, plan, device, x, y);
  backward(out.loss, scaler, reducer, /*retain_graph=*/probed);
  if (probed) probe->measure(ProbedStep{model, plan, device, x, y, scaler, out.loss});
  apply_update(optimizer, scaler);
  return {out.logits.detach(), out.loss.detach(), y};
}

}  // namespace tiebreak::train
