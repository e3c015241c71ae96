#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/precision/fp32_accumulate.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <optional>
#include <string>
#include <vector>

namespace tiebreak::train {

/// How a precision is realised: the dtype of parameters and inputs, the
/// autocast compute dtype (if any), whether the loss is dynamically scaled, and
/// whether 16-bit convolution/linear/batch norm on the CPU compute in fp32
/// (precision::Fp32AccumulateGuard). The trainer, tiebreak::zones and the
/// benchmarks all run their forward passes under a PrecisionGuard of the plan.
struct PrecisionPlan {
  at::ScalarType parameter_dtype = at::kFloat;
  std::optional<at::ScalarType> autocast_dtype;
  bool loss_scaling = false;
  /// The plan computes in a 16-bit type (fp16, bf16, amp_*) and
  /// train.half_compute chose fp32 accumulation on the CPU.
  bool fp32_accumulate = false;
  /// With fp32_accumulate on BFloat16: convolution and matrix products run
  /// LibTorch's oneDNN BFloat16 kernels on the CPU's BF16 units (the same
  /// arithmetic, faster); batch norm still computes in float
  /// (precision::Fp32AccumulateGuard's bf16_products_native).
  bool bf16_products_native = false;
  /// For plans computing in a 16-bit type: what train.half_compute asked for;
  /// describe() names it beside what it chose.
  std::optional<config::HalfCompute> half_compute_requested;
};

/// Whether this CPU has BFloat16 dot-product units (AVX512-BF16 or AMX-BF16, as
/// ATen's cpuinfo reports them) and LibTorch was built with oneDNN, which then
/// runs BFloat16 convolution and matrix products on them: exact products,
/// float accumulation, one rounding. Computed once per process.
bool cpu_has_bf16_units();

/// How a plan computing in a 16-bit type runs on the CPU (PrecisionPlan's fields).
struct HalfComputeChoice {
  bool fp32_accumulate = false;
  bool bf16_products_native = false;
};

/// What train.half_compute `requested` means for a plan computing in `compute`
/// (Half or BFloat16) on the CPU. `Fp32Accumulate` and `Native` are taken as
/// asked. `Auto` is fp32 accumulation, and for BFloat16 on a CPU with
/// `cpu_bf16_units` it leaves convolution and the matrix products to LibTorch's
/// oneDNN kernels, which compute them alike and faster (measured on an
/// AVX512-BF16 CPU: BENCHMARKS.md, "Half precision on the CPU"); batch norm stays
/// widened because LibTorch's BFloat16 batch norm is hundreds of ulps off.
/// `Native` alone reproduces a CPU PyTorch run bit for bit.
HalfComputeChoice choose_half_compute(config::HalfCompute requested, at::ScalarType compute,
                                      bool cpu_bf16_units = cpu_has_bf16_units());

/// fp16/bf16/fp64: everything in that dtype (the study's fp16: no master weights,
/// no loss scaling); fp32: float; amp_fp16: float weights, fp16 autocast and
/// dynamic loss scaling; amp_bf16: float weights, bf16 autocast, no scaling.
/// `half_compute` applies to the 16-bit ones (fp16, bf16, amp_fp16, amp_bf16).
PrecisionPlan plan_for(config::Precision precision,
                       config::HalfCompute half_compute = config::HalfCompute::Auto);

/// The plan of an evaluation pass: the study's test pass ran without autocast,
/// so mixed precision evaluates in its parameters' fp32; 16-bit plans keep
/// their fp32 accumulation (it changes the speed, not the rounding of results).
PrecisionPlan evaluation_plan(PrecisionPlan plan);

/// One line for logs, e.g. "fp16: parameters and activations in Half;
/// convolution/linear/batch_norm in fp32 on the Half values, rounded once
/// (train.half_compute=fp32_accumulate)".
std::string describe(const PrecisionPlan& plan, config::Precision precision);

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

/// The plan's computation mode for the forward pass on `device_type`:
/// autocast (AutocastGuard) for amp plans and the fp32-accumulate interception
/// (precision::Fp32AccumulateGuard) for 16-bit plans that ask for it. The
/// backward needs no guard (the recorded graph holds the casts).
///
/// Example:
/// ```
/// const auto plan = plan_for(config.train.precision, config.train.half_compute);
/// {
///   PrecisionGuard guard(plan, device.type());
///   loss = torch::nn::functional::cross_entropy(model.forward(x), y);
/// }
/// loss.backward();
/// ```
class PrecisionGuard {
 public:
  PrecisionGuard(const PrecisionPlan& plan, c10::DeviceType device_type);

 private:
  AutocastGuard autocast_;
  precision::Fp32AccumulateGuard fp32_accumulate_;
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

/// The precision preflight of every training loop (trainer, zones, diverge): throws a one-line error naming
/// train.precision and the missing kernels (unsupported_ops of the plan's compute dtype on `device`)
/// rather than let a run fail at its first step or silently up-cast. Draws from the global generator:
/// call it before seeding the run.
void check_precision_kernels(const PrecisionPlan& plan, config::Precision precision, c10::Device device);

}  // namespace tiebreak::train
