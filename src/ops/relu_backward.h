#pragma once
// The two implementations behind tiebreak::_relu_backward: a CPU loop and a
// device-generic one from ATen ops (what CUDA runs). They agree bit for bit.

#include <ATen/core/Tensor.h>

namespace tiebreak::ops {

at::Tensor relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self, double alpha);
at::Tensor relu_backward_generic(const at::Tensor& grad_output, const at::Tensor& self, double alpha);

}  // namespace tiebreak::ops
