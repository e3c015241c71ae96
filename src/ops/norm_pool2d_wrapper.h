#pragma once
// Shared wrapper of the NormPool device kernels: argument checks, geometry and
// the 3-D ↔ 4-D handling, so that the CPU and CUDA registrations of
// tiebreak::_norm_pool2d_forward/_backward behave the same. A device registers
//   m.impl("_norm_pool2d_forward", [](...) { return run_norm_pool2d_forward(..., norm_pool2d_forward_cuda);
//   });

#include "ops/pool_geometry.h"

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

namespace tiebreak::ops {

using NormPoolForwardKernel = at::Tensor (*)(const at::Tensor& input, const PoolGeometry& geometry);
using NormPoolBackwardKernel = at::Tensor (*)(const at::Tensor& grad_output, const at::Tensor& input,
                                              const at::Tensor& output, const PoolGeometry& geometry,
                                              double grad_at_zero);

/// NormPool's window geometry: MaxPool's with dilation 1 and floor mode, with
/// the same checks and messages (naming tiebreak::norm_pool2d).
PoolGeometry norm_pool_geometry(const at::Tensor& input, c10::IntArrayRef kernel_size,
                                c10::IntArrayRef stride, c10::IntArrayRef padding);

/// Validates, runs `kernel` on the 4-D view of `self`, returns self's rank.
at::Tensor run_norm_pool2d_forward(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                   c10::IntArrayRef stride, c10::IntArrayRef padding,
                                   NormPoolForwardKernel kernel);

/// Validates shapes/dtypes of grad_output and output, runs `kernel` on 4-D views.
at::Tensor run_norm_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                    const at::Tensor& output, c10::IntArrayRef kernel_size,
                                    c10::IntArrayRef stride, c10::IntArrayRef padding, double grad_at_zero,
                                    NormPoolBackwardKernel kernel);

}  // namespace tiebreak::ops
