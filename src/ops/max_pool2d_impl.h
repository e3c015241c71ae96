#pragma once
// Device-independent part of the max_pool2d kernels' dispatcher registrations:
// argument checks, the 3-D (C, H, W) case and formulation parsing, shared by
// the CPU registration (ops/max_pool2d.cpp) and the CUDA one, so that both
// devices reject the same arguments with the same messages.
//
// A device registers its kernels as
//   m.impl("_max_pool2d_forward", [](...) { return max_pool2d_forward_impl(max_pool2d_forward_cuda, ...); });

#include "ops/kernels.h"

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/string_view.h>

#include <tuple>

namespace tiebreak::ops {

using MaxPool2dForwardKernel = std::tuple<at::Tensor, at::Tensor, at::Tensor> (*)(const at::Tensor&,
                                                                                  const PoolGeometry&, double,
                                                                                  PoolFormulation);
using MaxPool2dBackwardKernel = at::Tensor (*)(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&, const PoolGeometry&, double,
                                               PoolFormulation);

/// `tiebreak::_max_pool2d_forward` on one device: validates, runs `kernel` on
/// the 4-D view of `self` and returns (output, indices, ties) shaped like `self`.
std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_impl(
    MaxPool2dForwardKernel kernel, const at::Tensor& self, c10::IntArrayRef kernel_size,
    c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
    c10::string_view formulation);

/// `tiebreak::_max_pool2d_backward` on one device: validates grad_output,
/// indices and ties against the geometry of `self` and runs `kernel`.
at::Tensor max_pool2d_backward_impl(MaxPool2dBackwardKernel kernel, const at::Tensor& grad_output,
                                    const at::Tensor& self, const at::Tensor& indices, const at::Tensor& ties,
                                    c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                    c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode,
                                    double beta, c10::string_view formulation);

/// TORCH_CHECKs that β is finite ("max_pool2d: beta must be finite, got inf").
void check_pool_beta(double beta);

}  // namespace tiebreak::ops
