// The ReLU operators: schemas, dispatcher entry points, the checks and the
// device-generic kernels (see ops/relu_dispatch.h for the layout).

#include "tiebreak/ops/relu.h"

#include "ops/relu_dispatch.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <cmath>

namespace tiebreak::ops {

void check_relu_alpha(double alpha) {
  TORCH_CHECK(std::isfinite(alpha), "relu: alpha (ReLU'(0)) must be finite, got ", alpha);
}

void check_relu(const at::Tensor& self, double alpha) {
  TORCH_CHECK(self.defined(), "relu: input is an undefined tensor");
  TORCH_CHECK(at::isFloatingType(self.scalar_type()),
              "relu: expected a floating point input (Half, BFloat16, Float or Double), got ",
              self.scalar_type());
  check_relu_alpha(alpha);
}

void check_relu_backward(const at::Tensor& grad_output, const at::Tensor& self, double alpha) {
  check_relu(self, alpha);
  TORCH_CHECK(grad_output.defined(), "relu backward: grad_output is an undefined tensor");
  TORCH_CHECK(grad_output.sym_sizes() == self.sym_sizes(), "relu backward: expected grad_output of shape ",
              self.sym_sizes(), ", got ", grad_output.sym_sizes());
  TORCH_CHECK(grad_output.scalar_type() == self.scalar_type(),
              "relu backward: expected grad_output of dtype ", self.scalar_type(), ", got ",
              grad_output.scalar_type());
  TORCH_CHECK(grad_output.device() == self.device(), "relu backward: expected grad_output on ", self.device(),
              ", got ", grad_output.device());
}

// at::mul with a Scalar computes in the op-math type (float for Half/BFloat16)
// and rounds once, as the CPU loop does.
at::Tensor relu_backward_generic(const at::Tensor& grad_output, const at::Tensor& self, double alpha) {
  check_relu_backward(grad_output, self, alpha);
  // Native threshold_backward: 0 where x <= 0, else g (NaN passes g).
  auto grad_input = at::threshold_backward(grad_output, self, 0);
  if (alpha != 0.0) grad_input = at::where(self == 0, grad_output * alpha, grad_input);
  return grad_input;
}

namespace dispatch {

at::Tensor relu(const at::Tensor& self, double alpha) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("tiebreak::relu", "").typed<decltype(dispatch::relu)>();
  return op.call(self, alpha);
}

at::Tensor _relu_backward(const at::Tensor& grad_output, const at::Tensor& self, double alpha) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::_relu_backward", "")
                             .typed<decltype(dispatch::_relu_backward)>();
  return op.call(grad_output, self, alpha);
}

}  // namespace dispatch

at::Tensor relu(const at::Tensor& input, double alpha) { return dispatch::relu(input, alpha); }

at::Tensor relu_backward(const at::Tensor& grad_output, const at::Tensor& input, double alpha) {
  return dispatch::_relu_backward(grad_output, input, alpha);
}

namespace {

// Every device (and Meta): the forward is native relu.
at::Tensor relu_forward(const at::Tensor& self, double alpha) {
  check_relu(self, alpha);
  return at::relu(self);
}

}  // namespace

}  // namespace tiebreak::ops

TORCH_LIBRARY_FRAGMENT(tiebreak, m) {
  m.def("relu(Tensor self, float alpha=0.) -> Tensor");
  m.def("_relu_backward(Tensor grad_output, Tensor self, float alpha) -> Tensor");
}

TORCH_LIBRARY_IMPL(tiebreak, CompositeExplicitAutograd, m) {
  m.impl("relu", TORCH_FN(tiebreak::ops::relu_forward));
  m.impl("_relu_backward", TORCH_FN(tiebreak::ops::relu_backward_generic));
}
