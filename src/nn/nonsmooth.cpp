#include "tiebreak/nn/nonsmooth.h"

#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/norm_pool.h"
#include "tiebreak/nn/modules/pooling.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

namespace tiebreak::nn {

torch::nn::AnyModule Nonsmooth::make_pool(int64_t kernel_size, int64_t stride, int64_t padding) const {
  // The modules check their arguments with the operators' own messages.
  if (pool_ == PoolKind::NormPool) {
    return torch::nn::AnyModule(NormPool2d(
        NormPool2dOptions(kernel_size).stride(stride).padding(padding).grad_at_zero(grad_at_zero_)));
  }
  return torch::nn::AnyModule(MaxPool2d(
      MaxPool2dOptions(kernel_size).stride(stride).padding(padding).beta(beta_).formulation(formulation_)));
}

torch::nn::AnyModule Nonsmooth::make_relu() const {
  return torch::nn::AnyModule(ReLU(ReLUOptions().alpha(relu_alpha_)));
}

std::string Nonsmooth::describe() const {
  std::string pool;
  if (pool_ == PoolKind::MaxPool) {
    pool = fmt::format("maxpool(beta={}, {})", beta_, ops::to_string(formulation_));
  } else {
    pool = fmt::format("normpool(grad_at_zero={})", grad_at_zero_);
  }
  return fmt::format("{}, relu'(0)={}", pool, relu_alpha_);
}

}  // namespace tiebreak::nn
