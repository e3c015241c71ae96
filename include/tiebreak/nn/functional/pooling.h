#pragma once

#include "tiebreak/nn/options/pooling.h"
#include "tiebreak/nn/tie_counter.h"

#include <ATen/core/Tensor.h>

namespace tiebreak::nn::functional {

/// Stateless MaxPool with the Jacobian choice of `options` (β, formulation);
/// see tiebreak::ops::max_pool2d for the semantics. When `counter` is given and
/// enabled, the call's tie counts (windows, tied windows, largest t) are added to it.
///
/// Example:
/// ```
/// namespace F = tiebreak::nn::functional;
/// auto y = F::max_pool2d(x, MaxPool2dOptions(2).beta(1.0));
/// ```
at::Tensor max_pool2d(const at::Tensor& input, const MaxPool2dOptions& options,
                      TieCounter* counter = nullptr);

}  // namespace tiebreak::nn::functional
