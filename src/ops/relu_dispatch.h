#pragma once
// The ReLU operators as the dispatcher sees them (private to src/ops/), laid
// out as the pooling ones: ops/relu.cpp (schemas, entry points, checks, the
// device-generic kernels), ops/autograd/relu.cpp, ops/cpu/relu_kernel.cpp.
//
// Schemas (namespace tiebreak):
//   relu(Tensor self, float alpha=0.) -> Tensor
//   _relu_backward(Tensor grad_output, Tensor self, float alpha) -> Tensor

#include <ATen/core/Tensor.h>

namespace tiebreak::ops {

namespace dispatch {

at::Tensor relu(const at::Tensor& self, double alpha);
at::Tensor _relu_backward(const at::Tensor& grad_output, const at::Tensor& self, double alpha);

}  // namespace dispatch

/// The one check of `relu`'s arguments: a floating point input, a finite α.
void check_relu(const at::Tensor& self, double alpha);

/// The one check of `_relu_backward`'s arguments: `relu`'s, and grad_output of
/// self's shape, dtype and device. Symbolic sizes allowed.
void check_relu_backward(const at::Tensor& grad_output, const at::Tensor& self, double alpha);

/// `_relu_backward` from ATen ops: what CUDA and the Meta key run. Agrees bit
/// for bit with the CPU loop (ops/cpu/relu_kernel.cpp).
at::Tensor relu_backward_generic(const at::Tensor& grad_output, const at::Tensor& self, double alpha);

/// The CPU loop behind `_relu_backward`.
at::Tensor relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self, double alpha);

}  // namespace tiebreak::ops
