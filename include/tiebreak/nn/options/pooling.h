#pragma once

#include "tiebreak/ops/formulation.h"

#include <torch/arg.h>
#include <torch/expanding_array.h>

namespace tiebreak::nn {

/// Options for `tiebreak::nn::MaxPool2d` and `tiebreak::nn::functional::max_pool2d`:
/// the native max_pool2d arguments plus the Jacobian choice β and its formulation.
///
/// Example:
/// ```
/// MaxPool2d pool(MaxPool2dOptions(2).stride(2).beta(1000).formulation(ops::PoolFormulation::Mixture));
/// ```
struct MaxPool2dOptions {
  MaxPool2dOptions(torch::ExpandingArray<2> kernel_size) : kernel_size_(kernel_size), stride_(kernel_size) {}

  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  /// Defaults to kernel_size, as in torch::nn::MaxPool2d.
  TORCH_ARG(torch::ExpandingArray<2>, stride);
  TORCH_ARG(torch::ExpandingArray<2>, padding) = 0;
  TORCH_ARG(torch::ExpandingArray<2>, dilation) = 1;
  TORCH_ARG(bool, ceil_mode) = false;
  /// J_β = β·J_min + (1−β)·J_nat; 0 is native, 1 the minimal-norm Clarke element. Any finite real.
  TORCH_ARG(double, beta) = 0.0;
  TORCH_ARG(ops::PoolFormulation, formulation) = ops::PoolFormulation::Pure;
};

/// Options for `tiebreak::nn::NormPool2d`: L2 pooling sqrt(Σ x²) per window.
/// `grad_at_zero` is the gradient factor every element of an all-zero window
/// receives (0 and 1 are the two variants studied).
///
/// Example:
/// ```
/// NormPool2d pool(NormPool2dOptions(2).grad_at_zero(1.0));
/// ```
struct NormPool2dOptions {
  NormPool2dOptions(torch::ExpandingArray<2> kernel_size) : kernel_size_(kernel_size), stride_(kernel_size) {}

  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  TORCH_ARG(torch::ExpandingArray<2>, stride);
  TORCH_ARG(torch::ExpandingArray<2>, padding) = 0;
  TORCH_ARG(double, grad_at_zero) = 0.0;
};

} // namespace tiebreak::nn
