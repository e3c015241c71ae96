#pragma once

#include <ATen/core/Tensor.h>

namespace tiebreak::ops {

/// ReLU whose derivative at 0 is `alpha`: forward is at::relu(input) bit for
/// bit (NaN propagates); backward gives g for x > 0, 0 for x < 0 and α·g at
/// x = 0 (+0 and −0), rounded once from the op-math product opmath(α)·g. For
/// α = 0 the backward is native threshold_backward bit for bit (an exact +0,
/// whatever g is). A NaN input passes g through, as native ReLU does.
/// Any floating dtype, any device; dispatched as `tiebreak::relu`.
///
/// Example:
/// ```
/// auto y = tiebreak::ops::relu(x.requires_grad_(), /*alpha=*/1.0);
/// y.sum().backward();  // x.grad() is 1 wherever x >= 0
/// ```
at::Tensor relu(const at::Tensor& input, double alpha = 0.0);

/// The backward of `relu`: grad_output·ReLU'_α(input). Exposed for kernels and
/// tests; dispatched as `tiebreak::_relu_backward`.
at::Tensor relu_backward(const at::Tensor& grad_output, const at::Tensor& input, double alpha);

/// Checks relu's α before any input is seen (what tiebreak::nn::ReLU does when
/// built): "relu: alpha (ReLU'(0)) must be finite, got inf". Throws c10::Error.
void check_relu_alpha(double alpha);

}  // namespace tiebreak::ops
