#pragma once

#include "tiebreak/ops/formulation.h"

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <tuple>

namespace tiebreak::ops {

/// MaxPool with a chosen Jacobian J_β = β·J_min + (1−β)·J_nat: the forward is
/// native max_pool2d (`Pure`) or the study's mixture β·MinNormPool + (1−β)·NativePool
/// (`Mixture`); the backward sends, per window with t tied maxima, β/t of the
/// upstream gradient to every tied position and (1−β) of it to the position
/// native max_pool2d selects. β = 0 is native autodiff, β = 1 the minimal-norm
/// Clarke element; any finite β is allowed.
///
/// Arguments and errors follow at::max_pool2d (3-D (C, H, W) or 4-D input, NCHW
/// or channels-last, Half/BFloat16/Float/Double). This calls the dispatcher op
/// `tiebreak::max_pool2d`, so it is differentiable on every device with kernels.
///
/// Example:
/// ```
/// auto y = tiebreak::ops::max_pool2d(x, {2, 2}, {2, 2}, 0, 1, false, 1000.0, PoolFormulation::Mixture);
/// y.sum().backward();
/// ```
at::Tensor max_pool2d(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride = {},
                      at::IntArrayRef padding = 0, at::IntArrayRef dilation = 1, bool ceil_mode = false,
                      double beta = 0.0, PoolFormulation formulation = PoolFormulation::Pure);

/// As `max_pool2d`, also returning t_w per output element (int32, output-shaped):
/// how many window positions equal the window's maximum (1 for a NaN window).
std::tuple<at::Tensor, at::Tensor> max_pool2d_with_ties(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                        at::IntArrayRef stride = {},
                                                        at::IntArrayRef padding = 0,
                                                        at::IntArrayRef dilation = 1, bool ceil_mode = false,
                                                        double beta = 0.0,
                                                        PoolFormulation formulation = PoolFormulation::Pure);

/// Checks max_pool2d's arguments before any input is seen (what
/// tiebreak::nn::MaxPool2d does when built): the operator's own checks and
/// messages, e.g. "max_pool2d: stride must be greater than zero, got (0, 0)",
/// "max_pool2d: pad should be at most half of effective kernel size, …",
/// "max_pool2d: beta must be finite, got inf". Throws c10::Error.
void check_max_pool2d_arguments(at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation, double beta);

}  // namespace tiebreak::ops
