#include "tiebreak/train/optimizer.h"

#include "tiebreak/train/innaprop.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cmath>

namespace tiebreak::train {

using config::OptimizerKind;
using config::ScheduleKind;

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::OptimizerConfig& o,
                                                        std::vector<torch::Tensor> params) {
  switch (o.name) {
    case OptimizerKind::Sgd:
      return std::make_unique<torch::optim::SGD>(std::move(params), torch::optim::SGDOptions(o.lr)
                                                                        .momentum(o.momentum)
                                                                        .weight_decay(o.weight_decay)
                                                                        .nesterov(o.nesterov));
    case OptimizerKind::Adam:
      return std::make_unique<torch::optim::Adam>(std::move(params), torch::optim::AdamOptions(o.lr)
                                                                         .betas({o.betas[0], o.betas[1]})
                                                                         .eps(o.eps)
                                                                         .weight_decay(o.weight_decay));
    case OptimizerKind::AdamW:
      return std::make_unique<torch::optim::AdamW>(std::move(params), torch::optim::AdamWOptions(o.lr)
                                                                          .betas({o.betas[0], o.betas[1]})
                                                                          .eps(o.eps)
                                                                          .weight_decay(o.weight_decay));
    case OptimizerKind::INNAprop:
      return std::make_unique<INNAprop>(
          std::move(params),
          INNApropOptions(o.lr).alpha(o.alpha).beta(o.beta).sigma(o.sigma).eps(o.eps).weight_decay(
              o.weight_decay));
  }
  TORCH_INTERNAL_ASSERT(false, "unhandled optimizer kind");
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double learning_rate_at(const config::ScheduleConfig& schedule, double base_lr, int64_t epoch,
                        int64_t epochs) {
  TORCH_CHECK(epoch >= 0 && epochs > 0, "learning_rate_at: expected 0 <= epoch and epochs > 0, got epoch ",
              epoch, " of ", epochs);
  switch (schedule.name) {
    case ScheduleKind::Constant:
      return base_lr;
    case ScheduleKind::Cosine:
      return base_lr * (1 + std::cos(M_PI * static_cast<double>(epoch) / static_cast<double>(epochs))) / 2;
    case ScheduleKind::Step:
      return base_lr * std::pow(schedule.gamma, static_cast<double>(epoch / schedule.step_size));
  }
  TORCH_INTERNAL_ASSERT(false, "unhandled schedule kind");
}

}  // namespace tiebreak::train
