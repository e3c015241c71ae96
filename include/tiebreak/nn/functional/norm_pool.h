#pragma once

#include "tiebreak/nn/options/pooling.h"

#include <ATen/core/Tensor.h>

namespace tiebreak::nn::functional {

/// Stateless NormPool (L2 pooling) with the all-zero-window gradient
/// options.grad_at_zero() (see tiebreak::ops::norm_pool2d).
///
/// Example:
/// ```
/// namespace F = tiebreak::nn::functional;
/// auto y = F::norm_pool2d(x, NormPool2dOptions(2).grad_at_zero(1.0));
/// ```
at::Tensor norm_pool2d(const at::Tensor& input, const NormPool2dOptions& options);

}  // namespace tiebreak::nn::functional
