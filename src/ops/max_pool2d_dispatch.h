#pragma once
// The MaxPool operators as the dispatcher sees them (private to src/ops/):
// entry points with the schemas' signatures, and the one function that
// validates their arguments and allocates their results. The operator files
// are laid out as torchvision's:
//   ops/max_pool2d.cpp                 schemas, these entry points, the meta step, the Meta kernels
//   ops/autograd/max_pool2d.cpp        the Autograd kernels (forward, backward, double backward)
//   ops/cpu/max_pool2d_kernel*.cpp     the CPU kernels, registered there
//   ops/cuda/max_pool2d_kernel.cu      the CUDA kernels, registered there
//
// Schemas (namespace tiebreak):
//   max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1,
//              bool ceil_mode=False, float beta=0., str formulation="pure") -> Tensor
//   max_pool2d_with_ties(<same>) -> (Tensor output, Tensor ties)
//   _max_pool2d_forward(<same>) -> (Tensor output, Tensor indices, Tensor ties)
//   _max_pool2d_backward(Tensor grad_output, Tensor self, Tensor indices, Tensor ties, int[2] kernel_size,
//                        int[2] stride, int[2] padding, int[2] dilation, bool ceil_mode, float beta,
//                        str formulation) -> Tensor
// `indices` holds, per output element, the flat position ih·W + iw that native
// max_pool2d selects (as at::max_pool2d_with_indices); `ties` (int32) the
// number t_w of window positions equal to the window's maximum in the dtype (1
// for a NaN window, 0 for a dilated window with no tap inside the input).

#include "ops/pool_geometry.h"
#include "tiebreak/ops/formulation.h"

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/string_view.h>

#include <tuple>

namespace tiebreak::ops {

namespace dispatch {

at::Tensor max_pool2d(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                      c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                      c10::string_view formulation);
std::tuple<at::Tensor, at::Tensor> max_pool2d_with_ties(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                                        c10::IntArrayRef stride, c10::IntArrayRef padding,
                                                        c10::IntArrayRef dilation, bool ceil_mode,
                                                        double beta, c10::string_view formulation);
std::tuple<at::Tensor, at::Tensor, at::Tensor> _max_pool2d_forward(
    const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool ceil_mode, double beta, c10::string_view formulation);
at::Tensor _max_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                const at::Tensor& indices, const at::Tensor& ties,
                                c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode,
                                double beta, c10::string_view formulation);

}  // namespace dispatch

/// The validated arguments of a `_max_pool2d_forward` call and its results,
/// allocated (uninitialised) on `self`'s device in its pooling layout.
struct MaxPool2dForwardMeta {
  /// The validated arguments with the plane sizes: what the device kernels
  /// take (plane sizes 0 under symbolic shapes, where only the Meta kernel runs).
  PoolGeometry geometry;
  PoolFormulation formulation;
  at::Tensor output;
  at::Tensor indices;
  at::Tensor ties;
};

/// The meta step of `_max_pool2d_forward`: the one place its arguments are
/// checked (input rank, dtype and sizes, pooling arguments, β finite, the
/// formulation's name) with messages naming the argument. Symbolic sizes
/// allowed (it is the Meta kernel too).
MaxPool2dForwardMeta max_pool2d_forward_meta(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                             c10::IntArrayRef stride, c10::IntArrayRef padding,
                                             c10::IntArrayRef dilation, bool ceil_mode, double beta,
                                             c10::string_view formulation);

struct MaxPool2dBackwardMeta {
  /// The validated arguments with the plane sizes: what the device kernels
  /// take (plane sizes 0 under symbolic shapes, where only the Meta kernel runs).
  PoolGeometry geometry;
  PoolFormulation formulation;
  at::Tensor grad_input;  // shaped and laid out like self, uninitialised
};

/// The meta step of `_max_pool2d_backward`: the forward's checks plus
/// grad_output, indices and ties against the pooled shape of `self`.
MaxPool2dBackwardMeta max_pool2d_backward_meta(const at::Tensor& grad_output, const at::Tensor& self,
                                               const at::Tensor& indices, const at::Tensor& ties,
                                               c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                               c10::IntArrayRef padding, c10::IntArrayRef dilation,
                                               bool ceil_mode, double beta, c10::string_view formulation);

}  // namespace tiebreak::ops
