#pragma once

#include "tiebreak/nn/options/activation.h"
#include "tiebreak/nn/tie_counter.h"

#include <ATen/core/Tensor.h>

namespace tiebreak::nn::functional {

/// Stateless ReLU with ReLU'(0) = options.alpha() (see tiebreak::ops::relu).
/// When `counter` is non-null and enabled, the exact zeros of `input` are
/// counted before the call.
///
/// Example:
/// ```
/// namespace F = tiebreak::nn::functional;
/// auto y = F::relu(x, ReLUOptions().alpha(1.0));
/// ```
at::Tensor relu(const at::Tensor& input, const ReLUOptions& options = {}, TieCounter* counter = nullptr);

}  // namespace tiebreak::nn::functional
