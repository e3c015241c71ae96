#pragma once

#include "tiebreak/config/config.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <optional>
#include <string>
#include <vector>

namespace tiebreak::train {

/// How a precision is realised: the dtype of parameters and inputs, the
/// autocast compute dtype (if any) and whether the loss is dynamically scaled.
struct PrecisionPlan {
  at::ScalarType parameter_dtype = at::kFloat;
  std::optional<at::ScalarType> autocast_dtype;
  bool loss_scaling = false;
};

/// fp16/bf16/fp64: everything in that dtype (the study's fp16: no master weights,
/// no loss scaling); fp32: float; amp_fp16: float weights, fp16 autocast and
/// dynamic loss scaling; amp_bf16: float weights, bf16 autocast, no scaling.
PrecisionPlan plan_for(config::Precision precision);

/// Enables autocast on one device type for its lifetime and restores the previous
/// state (enabled flag, dtype, nesting and cast cache) afterwards, as Python's
/// `torch.autocast` context does. A disengaged guard (`dtype` nullopt) does nothing.
///
/// Example:
/// ```
/// {
///   AutocastGuard autocast(at::kCUDA, at::kHalf);
///   auto logits = model->forward(x);  // convolutions and matmuls in fp16
/// }
/// ```
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device_type, std::optional<at::ScalarType> dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_type_;
  bool engaged_ = false;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

/// Dynamic loss scaling (PyTorch's GradScaler, which LibTorch lacks): the loss is
/// multiplied by `scale` before backward; gradients are unscaled and checked for
/// Inf/NaN; a step with non-finite gradients is skipped and the scale multiplied
/// by `backoff_factor`; after `growth_interval` clean steps it grows by
/// `growth_factor`. Built on at::_amp_foreach_non_finite_check_and_unscale_ and
/// at::_amp_update_scale_, so the scale never leaves the device.
///
/// Example:
/// ```
/// DynamicLossScaler scaler(config.train.loss_scale, device);
/// scaler.scale(loss).backward();
/// scaler.step(*optimizer);  // unscales, skips the step on overflow
/// scaler.update();
/// ```
class DynamicLossScaler {
 public:
  DynamicLossScaler(const config::LossScaleConfig& options, c10::Device device);

  at::Tensor scale(const at::Tensor& loss) const;
  /// Divides every gradient of `optimizer` by the scale in place and records
  /// whether any was Inf/NaN. Called by `step` if not called before.
  void unscale_(torch::optim::Optimizer& optimizer);
  /// Steps `optimizer` unless the gradients overflowed; returns whether it stepped.
  bool step(torch::optim::Optimizer& optimizer);
  /// Adjusts the scale from this iteration's overflow check and resets it.
  void update();

  double current_scale() const;
  int64_t skipped_steps() const { return skipped_steps_; }

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  config::LossScaleConfig options_;
  c10::Device device_;
  at::Tensor scale_;           // float32 [1]
  at::Tensor growth_tracker_;  // int32 [1]
  at::Tensor found_inf_;       // float32 [1]
  bool unscaled_ = false;
  int64_t skipped_steps_ = 0;
};

/// Names the operations a classifier needs (conv2d, linear, max_pool2d,
/// batch_norm, log_softmax, nll_loss, each forward and backward) that have no
/// kernel for `dtype` on `device` in this LibTorch. Empty when all run. The
/// trainer refuses a precision with gaps instead of silently up-casting.
std::vector<std::string> unsupported_ops(at::ScalarType dtype, c10::Device device);

}  // namespace tiebreak::train
