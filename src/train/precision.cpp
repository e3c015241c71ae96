#include "tiebreak/train/precision.h"

#include "tiebreak/core/build_info.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <ATen/cpu/Utils.h>
#include <ATen/ops/_amp_foreach_non_finite_check_and_unscale.h>
#include <ATen/ops/_amp_update_scale.h>
#include <torch/torch.h>

#include <map>

namespace tiebreak::train {

using config::Precision;

PrecisionPlan plan_for(Precision precision, config::HalfCompute half_compute) {
  PrecisionPlan plan;
  switch (precision) {
    case Precision::Fp16:
      plan.parameter_dtype = at::kHalf;
      break;
    case Precision::Bf16:
      plan.parameter_dtype = at::kBFloat16;
      break;
    case Precision::Fp32:
      plan.parameter_dtype = at::kFloat;
      break;
    case Precision::Fp64:
      plan.parameter_dtype = at::kDouble;
      break;
    case Precision::AmpFp16:
      plan.autocast_dtype = at::kHalf;
      plan.loss_scaling = true;
      break;
    case Precision::AmpBf16:
      plan.autocast_dtype = at::kBFloat16;
      break;
  }
  const at::ScalarType compute = plan.autocast_dtype.value_or(plan.parameter_dtype);
  if (compute == at::kHalf || compute == at::kBFloat16) {
    plan.half_compute_requested = half_compute;
    const auto choice = choose_half_compute(half_compute, compute);
    plan.fp32_accumulate = choice.fp32_accumulate;
    plan.bf16_products_native = choice.bf16_products_native;
  }
  return plan;
}

bool cpu_has_bf16_units() {
  static const bool has = [] {
    if (!at::hasMKLDNN()) return false;
    const auto capabilities = at::cpu::get_cpu_capabilities();
    const auto flag = [&](const char* name) {
      const auto it = capabilities.find(name);
      return it != capabilities.end() && it->second.isBool() && it->second.toBool();
    };
    return flag("avx512_bf16") || flag("amx_bf16");
  }();
  return has;
}

HalfComputeChoice choose_half_compute(config::HalfCompute requested, at::ScalarType compute,
                                      bool cpu_bf16_units) {
  switch (requested) {
    case config::HalfCompute::Native:
      return {};
    case config::HalfCompute::Fp32Accumulate:
      return {true, false};
    case config::HalfCompute::Auto:
      break;
  }
  return {true, compute == at::kBFloat16 && cpu_bf16_units};
}

std::string describe(const PrecisionPlan& plan, Precision precision) {
  const at::ScalarType compute = plan.autocast_dtype.value_or(plan.parameter_dtype);
  std::string text = config::to_string(precision) + ": parameters in " + c10::toString(plan.parameter_dtype);
  if (plan.autocast_dtype) text += std::string(", autocast to ") + c10::toString(*plan.autocast_dtype);
  if (plan.loss_scaling) text += ", dynamic loss scaling";
  if (compute == at::kHalf || compute == at::kBFloat16) {
    const auto setting =
        "train.half_compute=" +
        config::to_string(plan.half_compute_requested.value_or(
            plan.fp32_accumulate ? config::HalfCompute::Fp32Accumulate : config::HalfCompute::Native));
    if (!plan.fp32_accumulate)
      text += std::string("; LibTorch's own ") + c10::toString(compute) + " kernels (" + setting + ")";
    else if (plan.bf16_products_native)
      text += std::string(
                  "; on the CPU convolution/linear on oneDNN's BFloat16 kernels (the CPU has BF16 units), "
                  "batch_norm in fp32 on the BFloat16 values, rounded once (") +
              setting + ")";
    else
      text += std::string("; on the CPU convolution/linear/batch_norm compute in fp32 on the ") +
              c10::toString(compute) + " values and round once (" + setting + ")";
  }
  return text;
}

PrecisionPlan evaluation_plan(PrecisionPlan plan) {
  plan.autocast_dtype.reset();
  plan.loss_scaling = false;
  return plan;
}

PrecisionGuard::PrecisionGuard(const PrecisionPlan& plan, c10::DeviceType device_type)
    : autocast_(device_type, plan.autocast_dtype),
      fp32_accumulate_(plan.fp32_accumulate && device_type == c10::DeviceType::CPU,
                       plan.bf16_products_native) {}

AutocastGuard::AutocastGuard(c10::DeviceType device_type, std::optional<at::ScalarType> dtype)
    : device_type_(device_type) {
  if (!dtype) return;
  engaged_ = true;
  previous_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_enabled(device_type_, true);
  at::autocast::set_autocast_dtype(device_type_, *dtype);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!engaged_) return;
  // Casts are cached while autocast is on; the cache must not outlive the
  // outermost region, or later steps would see stale copies of the weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_type_, previous_enabled_);
  at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
}

DynamicLossScaler::DynamicLossScaler(const config::LossScaleConfig& options, c10::Device device)
    : options_(options), device_(device) {
  auto f = torch::TensorOptions().dtype(at::kFloat).device(device);
  scale_ = torch::full({1}, options.init_scale, f);
  growth_tracker_ = torch::zeros({1}, f.dtype(at::kInt));
  found_inf_ = torch::zeros({1}, f);
}

at::Tensor DynamicLossScaler::scale(const at::Tensor& loss) const {
  return loss * scale_.to(loss.dtype()).squeeze();
}

void DynamicLossScaler::unscale_(torch::optim::Optimizer& optimizer) {
  if (unscaled_) return;
  torch::NoGradGuard no_grad;
  auto inv_scale = scale_.to(at::kDouble).reciprocal().to(at::kFloat);
  std::map<at::ScalarType, std::vector<at::Tensor>> by_dtype;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) by_dtype[p.grad().scalar_type()].push_back(p.grad());
    }
  }
  found_inf_.zero_();
  for (auto& [dtype, grads] : by_dtype) {
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, inv_scale);
  }
  unscaled_ = true;
}

bool DynamicLossScaler::step(torch::optim::Optimizer& optimizer) {
  unscale_(optimizer);
  if (found_inf_.item<float>() != 0.0f) {
    ++skipped_steps_;
    return false;
  }
  optimizer.step();
  return true;
}

void DynamicLossScaler::update() {
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, options_.growth_factor, options_.backoff_factor,
                         options_.growth_interval);
  found_inf_.zero_();
  unscaled_ = false;
}

double DynamicLossScaler::current_scale() const { return scale_.item<double>(); }

void DynamicLossScaler::save(torch::serialize::OutputArchive& archive) const {
  archive.write("scale", scale_.cpu());
  archive.write("growth_tracker", growth_tracker_.cpu());
  archive.write("skipped_steps", torch::tensor(skipped_steps_));
}

void DynamicLossScaler::load(torch::serialize::InputArchive& archive) {
  at::Tensor scale, tracker, skipped;
  archive.read("scale", scale);
  archive.read("growth_tracker", tracker);
  archive.read("skipped_steps", skipped);
  TORCH_CHECK(scale.numel() == 1 && tracker.numel() == 1, "loss scaler state: expected one-element tensors");
  scale_ = scale.to(device_, at::kFloat).reshape({1});
  growth_tracker_ = tracker.to(device_, at::kInt).reshape({1});
  skipped_steps_ = skipped.item<int64_t>();
  found_inf_.zero_();
  unscaled_ = false;
}

std::vector<std::string> unsupported_ops(at::ScalarType dtype, c10::Device device) {
  std::vector<std::string> missing;
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  auto probe = [&](const std::string& name, const std::function<at::Tensor()>& fn) {
    try {
      auto out = fn();
      out.sum().backward();
    } catch (const c10::Error&) {
      missing.push_back(name);
    }
  };
  probe("conv2d", [&] {
    auto x = torch::randn({2, 3, 6, 6}, opts).requires_grad_();
    auto w = torch::randn({4, 3, 3, 3}, opts).requires_grad_();
    return torch::conv2d(x, w, torch::randn({4}, opts).requires_grad_(), 1, 1);
  });
  probe("linear", [&] {
    auto x = torch::randn({2, 5}, opts).requires_grad_();
    return torch::linear(x, torch::randn({3, 5}, opts).requires_grad_(),
                         torch::randn({3}, opts).requires_grad_());
  });
  probe("max_pool2d", [&] {
    return torch::max_pool2d(torch::randn({2, 3, 4, 4}, opts).requires_grad_(), 2);
  });
  probe("batch_norm", [&] {
    auto x = torch::randn({4, 3, 2, 2}, opts).requires_grad_();
    return torch::batch_norm(x, torch::ones({3}, opts).requires_grad_(),
                             torch::zeros({3}, opts).requires_grad_(), torch::zeros({3}, opts),
                             torch::ones({3}, opts), true, 0.1, 1e-5, false);
  });
  probe("log_softmax", [&] { return torch::log_softmax(torch::randn({4, 10}, opts).requires_grad_(), 1); });
  probe("nll_loss", [&] {
    auto x = torch::randn({4, 10}, opts).requires_grad_();
    return torch::nll_loss(
        x, torch::tensor({1, 2, 3, 4}, torch::TensorOptions().dtype(at::kLong).device(device)));
  });
  return missing;
}

void check_precision_kernels(const PrecisionPlan& plan, Precision precision, c10::Device device) {
  const at::ScalarType compute = plan.autocast_dtype.value_or(plan.parameter_dtype);
  const auto missing = unsupported_ops(compute, device);
  if (missing.empty()) return;
  std::string names;
  for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
  TORCH_CHECK(false, "train.precision: ", config::to_string(precision), " needs ", c10::toString(compute),
              " kernels that LibTorch ", build_info().libtorch_version, " lacks on ", device.str(), ": ",
              names, " (tiebreak does not silently up-cast; choose another precision or device)");
}

}  // namespace tiebreak::train
