#include "tiebreak/models/init.h"

#include "tiebreak/nn/modules/batch_norm.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <c10/util/Exception.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <mutex>

namespace tiebreak::models {
namespace {

// torch::nn::init::kaiming_uniform_ with the same floating-point steps (so the bounds are bit-identical),
// but drawing from `gen` instead of the global generator.
void kaiming_uniform(at::Tensor& weight, double a, at::Generator& gen) {
  const auto fan_in =
      static_cast<double>(std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight)));
  const double gain = std::sqrt(2.0 / (1 + std::pow(a, 2)));
  const double std = gain / std::sqrt(fan_in);
  const double bound = std::sqrt(3.0) * std;
  weight.uniform_(-bound, bound, gen);
}

// The bias rule of Conv2d/Linear reset_parameters(): U(±1/√fan_in of the weight).
void default_bias(const at::Tensor& weight, at::Tensor& bias, at::Generator& gen) {
  const auto fan_in = std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight));
  const auto bound = 1 / std::sqrt(fan_in);
  bias.uniform_(-bound, bound, gen);
}

// torch::nn::init::kaiming_normal_ with the ReLU gain √2 (Python's default a = 0 gives the same gain), on
// `fan_out` or fan_in, drawing from `gen`.
void kaiming_normal_relu(at::Tensor& weight, bool fan_out, at::Generator& gen) {
  const auto fans = torch::nn::init::_calculate_fan_in_and_fan_out(weight);
  const auto fan = static_cast<double>(fan_out ? std::get<1>(fans) : std::get<0>(fans));
  weight.normal_(0.0, std::sqrt(2.0) / std::sqrt(fan), gen);
}

template <typename Layer>
void init_default(Layer& layer, at::Generator& gen) {
  kaiming_uniform(layer.weight, std::sqrt(5), gen);
  if (layer.bias.defined()) default_bias(layer.weight, layer.bias, gen);
}

template <typename Layer>
void init_weighted(Layer& layer, InitScheme scheme, at::Generator& gen, bool is_linear) {
  if (scheme == InitScheme::PytorchDefault || (is_linear && scheme == InitScheme::TorchvisionResNet)) {
    init_default(layer, gen);
    return;
  }
  if (scheme == InitScheme::TorchvisionResNet || scheme == InitScheme::TorchvisionDenseNet) {
    if (is_linear) {  // TorchvisionDenseNet: the default weight, bias 0
      kaiming_uniform(layer.weight, std::sqrt(5), gen);
      if (layer.bias.defined()) layer.bias.zero_();
      return;
    }
    // The constructors redraw only conv weights; a conv bias (none in these networks) keeps the default rule.
    kaiming_normal_relu(layer.weight, /*fan_out=*/scheme == InitScheme::TorchvisionResNet, gen);
    if (layer.bias.defined()) default_bias(layer.weight, layer.bias, gen);
    return;
  }
  if (is_linear) {
    layer.weight.normal_(0.0, 0.01, gen);
  } else {
    kaiming_uniform(layer.weight, 0.0, gen);  // a = 0: the ReLU gain √2
  }
  if (layer.bias.defined()) layer.bias.zero_();
}

template <typename BatchNorm>
void init_batch_norm(BatchNorm& bn) {
  bn.reset_running_stats();
  if (bn.weight.defined()) bn.weight.fill_(1);
  if (bn.bias.defined()) bn.bias.zero_();
}

}  // namespace

void initialize(torch::nn::Module& model, InitScheme scheme, uint64_t seed) {
  torch::NoGradGuard no_grad;
  // Not locked here: uniform_/normal_ take the generator's mutex themselves.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // include_self = false: this runs from constructors, where the model is not yet owned by a shared_ptr.
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    auto& module = *item.value();
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(&module)) {
      init_weighted(*conv, scheme, gen, /*is_linear=*/false);
    } else if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(&module)) {
      init_weighted(*linear, scheme, gen, /*is_linear=*/true);
    } else if (auto* bn2 = dynamic_cast<torch::nn::BatchNorm2dImpl*>(&module)) {
      init_batch_norm(*bn2);
    } else if (auto* bn1 = dynamic_cast<torch::nn::BatchNorm1dImpl*>(&module)) {
      init_batch_norm(*bn1);
    } else if (auto* bn = dynamic_cast<nn::BatchNormImpl*>(&module)) {
      init_batch_norm(*bn);
    } else {
      TORCH_CHECK(module.named_parameters(/*recurse=*/false).is_empty(), "models::initialize: module \"",
                  item.key(), "\" (", module.name(), ") owns parameters but has no initialization rule");
    }
  }
}

GlobalRngGuard::GlobalRngGuard() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  state_ = gen.get_state();
}

GlobalRngGuard::~GlobalRngGuard() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state_);
}

}  // namespace tiebreak::models
