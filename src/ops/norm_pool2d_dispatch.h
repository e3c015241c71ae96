#pragma once
// The NormPool operators as the dispatcher sees them (private to src/ops/),
// laid out as the MaxPool ones (see ops/max_pool2d_dispatch.h):
//   ops/norm_pool2d.cpp, ops/autograd/norm_pool2d.cpp, ops/cpu/norm_pool2d_kernel*.cpp,
//   ops/cuda/norm_pool2d_kernel.cu
//
// Schemas (namespace tiebreak):
//   norm_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0,
//               float grad_at_zero=0.) -> Tensor
//   _norm_pool2d_forward(<same>) -> Tensor             (grad_at_zero is for its backward)
//   _norm_pool2d_backward(Tensor grad_output, Tensor self, Tensor output, int[2] kernel_size,
//                         int[2] stride, int[2] padding, float grad_at_zero) -> Tensor

#include "ops/pool_geometry.h"

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

namespace tiebreak::ops {

namespace dispatch {

at::Tensor norm_pool2d(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                       c10::IntArrayRef padding, double grad_at_zero);
at::Tensor _norm_pool2d_forward(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                c10::IntArrayRef padding, double grad_at_zero);
at::Tensor _norm_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                 const at::Tensor& output, c10::IntArrayRef kernel_size,
                                 c10::IntArrayRef stride, c10::IntArrayRef padding, double grad_at_zero);

}  // namespace dispatch

/// The meta step of `_norm_pool2d_forward`: validates (input, pooling
/// arguments — NormPool's windows are MaxPool's with dilation 1 and floor
/// mode —, grad_at_zero finite) and allocates the output in the input's
/// pooling layout. Symbolic sizes allowed.
struct NormPool2dMeta {
  /// The validated arguments with the plane sizes: what the device kernels
  /// take (plane sizes 0 under symbolic shapes, where only the Meta kernel runs).
  PoolGeometry geometry;
  at::Tensor result;  // the output (forward) or grad_input (backward), uninitialised
};
NormPool2dMeta norm_pool2d_forward_meta(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                        c10::IntArrayRef stride, c10::IntArrayRef padding,
                                        double grad_at_zero);

/// The meta step of `_norm_pool2d_backward`: the forward's checks plus
/// grad_output and output against the pooled shape of `self`.
NormPool2dMeta norm_pool2d_backward_meta(const at::Tensor& grad_output, const at::Tensor& self,
                                         const at::Tensor& output, c10::IntArrayRef kernel_size,
                                         c10::IntArrayRef stride, c10::IntArrayRef padding,
                                         double grad_at_zero);

}  // namespace tiebreak::ops
