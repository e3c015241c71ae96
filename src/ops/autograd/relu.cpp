// Autograd kernels of the ReLU operators. _relu_backward is g·r(x) with
// r(x) = 1 (x > 0 or NaN), α (x = ±0), 0 (x < 0): linear in g, so its
// derivative with respect to g is _relu_backward of the incoming gradient
// (differentiable again), and with respect to x zero almost everywhere.

#include "ops/autograd/saved_parameter.h"
#include "ops/relu_dispatch.h"

#include <torch/autograd.h>
#include <torch/library.h>

namespace tiebreak::ops {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class ReLUBackwardFunction : public torch::autograd::Function<ReLUBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& self,
                            double alpha) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto grad_input = dispatch::_relu_backward(grad_output, self, alpha);
    ctx->save_for_backward({self});
    ctx->saved_data["alpha"] = alpha;
    return grad_input;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    at::Tensor grad_grad_output;
    if (grad_outputs[0].defined()) {
      grad_grad_output = dispatch::_relu_backward(grad_outputs[0], ctx->get_saved_variables()[0],
                                                  ctx->saved_data["alpha"].toDouble());
    }
    return {grad_grad_output, at::Tensor(), at::Tensor()};
  }
};

class ReLUFunction : public torch::autograd::Function<ReLUFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& self, double alpha) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto output = dispatch::relu(self, alpha);
    ctx->save_for_backward({self});
    ctx->saved_data["alpha"] = alpha;
    return output;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    at::Tensor grad_input;
    if (grad_outputs[0].defined()) {
      // Through the dispatcher with autograd: differentiable again.
      grad_input = dispatch::_relu_backward(grad_outputs[0], ctx->get_saved_variables()[0],
                                            ctx->saved_data["alpha"].toDouble());
    }
    return {grad_input, at::Tensor()};
  }
};

at::Tensor relu_autograd(const at::Tensor& self, double alpha) { return ReLUFunction::apply(self, alpha); }

at::Tensor relu_backward_autograd(const at::Tensor& grad_output, const at::Tensor& self, double alpha) {
  return ReLUBackwardFunction::apply(grad_output, self, alpha);
}

}  // namespace

namespace detail {

SavedParameter relu_saved_alpha(torch::autograd::Node& node) {
  if (auto* relu = dynamic_cast<torch::autograd::CppNode<ReLUFunction>*>(&node))
    return {&relu->ctx_.saved_data.at("alpha"), false};
  if (auto* backward = dynamic_cast<torch::autograd::CppNode<ReLUBackwardFunction>*>(&node))
    return {&backward->ctx_.saved_data.at("alpha"), true};
  return {};
}

}  // namespace detail

}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, Autograd, m) {
  m.impl("relu", TORCH_FN(tiebreak::ops::relu_autograd));
  m.impl("_relu_backward", TORCH_FN(tiebreak::ops::relu_backward_autograd));
}
