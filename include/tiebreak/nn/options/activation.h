#pragma once

#include <torch/arg.h>

namespace tiebreak::nn {

/// Options for `tiebreak::nn::ReLU`: forward max(x, 0); backward g for x > 0,
/// 0 for x < 0 and α·g at x = 0 (both +0 and −0).
///
/// Example:
/// ```
/// ReLU relu(ReLUOptions().alpha(1.0));
/// ```
struct ReLUOptions {
  /// ReLU'(0). PyTorch's native choice is 0.
  TORCH_ARG(double, alpha) = 0.0;
};

} // namespace tiebreak::nn
