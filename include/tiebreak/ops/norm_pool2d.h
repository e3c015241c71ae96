#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

namespace tiebreak::ops {

/// NormPool (L2 pooling): each output is sqrt(Σ x²) over its window, summed in
/// the op-math type (float for Half/BFloat16) in row-major window order and
/// rounded once; padding adds nothing.
///
/// Backward: for a window with norm n ≠ 0, element l receives (x_l / n)·g;
/// every element of a window whose norm is 0 (all zeros, or squares that
/// underflow) receives grad_at_zero·g. Contributions of overlapping windows
/// are added in op-math in row-major window order and rounded once.
///
/// `input` is 3-D (C, H, W) or 4-D (N, C, H, W) in NCHW or NHWC, any floating
/// dtype; the output keeps its memory format. `stride` empty means kernel_size.
/// Dispatched as `tiebreak::norm_pool2d` (CPU here, CUDA when built with it).
///
/// Example:
/// ```
/// auto y = tiebreak::ops::norm_pool2d(x, {2, 2}, {2, 2}, {0, 0}, /*grad_at_zero=*/1.0);
/// ```
at::Tensor norm_pool2d(const at::Tensor& input, c10::IntArrayRef kernel_size, c10::IntArrayRef stride = {},
                       c10::IntArrayRef padding = 0, double grad_at_zero = 0.0);

/// Checks norm_pool2d's arguments before any input is seen (what
/// tiebreak::nn::NormPool2d does when built), with the operator's messages,
/// e.g. "norm_pool2d: grad_at_zero must be finite, got nan". Throws c10::Error.
void check_norm_pool2d_arguments(c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                 c10::IntArrayRef padding, double grad_at_zero);

}  // namespace tiebreak::ops
