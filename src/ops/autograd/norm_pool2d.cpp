// Autograd kernels of the NormPool operators, device-independent (they reach
// the device kernels through the dispatcher).
//
// - _norm_pool2d_forward: its backward is _norm_pool2d_backward, itself
//   differentiable.
// - _norm_pool2d_backward: B(g, x, y)_l = Σ_{w∋l} g_w·x_l/y_w (grad_at_zero·g_w
//   where y_w = 0). With S the window sum (a sum pool) and Sᵀ its adjoint, its
//   derivatives against an incoming u are
//     ∂g: S(u·x)/y  (grad_at_zero·S(u) where y = 0)
//     ∂x: u·Sᵀ(g/y) (y ≠ 0 windows only)
//     ∂y: −S(u·x)·g/y² (0 where y = 0)
//   written with ATen ops (avg_pool2d with divisor 1 and its backward) in
//   op-math, whose own autograd gives every higher order. y is the forward's
//   output, so the chain through y(x) is autograd's.

#include "ops/norm_pool2d_dispatch.h"

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace tiebreak::ops {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void save_args(AutogradContext* ctx, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
               c10::IntArrayRef padding, double grad_at_zero) {
  ctx->saved_data["kernel_size"] = kernel_size.vec();
  ctx->saved_data["stride"] = stride.vec();
  ctx->saved_data["padding"] = padding.vec();
  ctx->saved_data["grad_at_zero"] = grad_at_zero;
}

class NormPool2dBackwardFunction : public torch::autograd::Function<NormPool2dBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& self,
                            const at::Tensor& output, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                            c10::IntArrayRef padding, double grad_at_zero) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto grad_input = dispatch::_norm_pool2d_backward(grad_output, self, output, kernel_size, stride, padding,
                                                      grad_at_zero);
    ctx->save_for_backward({grad_output, self, output});
    save_args(ctx, kernel_size, stride, padding, grad_at_zero);
    return grad_input;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    if (!grad_outputs[0].defined()) return variable_list(7);
    const auto kernel_size = ctx->saved_data["kernel_size"].toIntVector();
    auto stride = ctx->saved_data["stride"].toIntVector();
    if (stride.empty()) stride = kernel_size;
    const auto padding = ctx->saved_data["padding"].toIntVector();
    const double grad_at_zero = ctx->saved_data["grad_at_zero"].toDouble();
    const auto dtype = saved[1].scalar_type();
    const auto opmath = at::toOpMathType(dtype);
    const auto g = saved[0].to(opmath), x = saved[1].to(opmath), y = saved[2].to(opmath);
    const auto u = grad_outputs[0].to(opmath);
    auto window_sum = [&](const at::Tensor& z) {
      return at::avg_pool2d(z, kernel_size, stride, padding, false, true, /*divisor_override=*/1);
    };
    auto window_sum_adjoint = [&](const at::Tensor& h) {
      return at::avg_pool2d_backward(h, x, kernel_size, stride, padding, false, true, 1);
    };
    const auto nonzero = y.ne(0);
    const auto safe_y = at::where(nonzero, y, at::ones({}, y.options()));
    const auto sum_ux = window_sum(u * x);
    const auto grad_g = at::where(nonzero, sum_ux / safe_y, window_sum(u) * grad_at_zero);
    const auto grad_x = u * window_sum_adjoint(at::where(nonzero, g / safe_y, at::zeros({}, g.options())));
    const auto grad_y = at::where(nonzero, -sum_ux * g / (safe_y * safe_y), at::zeros({}, y.options()));
    return {grad_g.to(dtype), grad_x.to(dtype), grad_y.to(dtype), at::Tensor(),
            at::Tensor(),     at::Tensor(),     at::Tensor()};
  }
};

class NormPool2dFunction : public torch::autograd::Function<NormPool2dFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& self, c10::IntArrayRef kernel_size,
                            c10::IntArrayRef stride, c10::IntArrayRef padding, double grad_at_zero) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto output = dispatch::_norm_pool2d_forward(self, kernel_size, stride, padding, grad_at_zero);
    ctx->save_for_backward({self, output});
    save_args(ctx, kernel_size, stride, padding, grad_at_zero);
    return output;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    at::Tensor grad_input;
    if (grad_outputs[0].defined()) {
      // Through the dispatcher with autograd: differentiable again.
      grad_input = dispatch::_norm_pool2d_backward(
          grad_outputs[0], saved[0], saved[1], ctx->saved_data["kernel_size"].toIntVector(),
          ctx->saved_data["stride"].toIntVector(), ctx->saved_data["padding"].toIntVector(),
          ctx->saved_data["grad_at_zero"].toDouble());
    }
    return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor forward_autograd(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                            c10::IntArrayRef padding, double grad_at_zero) {
  return NormPool2dFunction::apply(self, kernel_size, stride, padding, grad_at_zero);
}

at::Tensor backward_autograd(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                             c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
                             double grad_at_zero) {
  return NormPool2dBackwardFunction::apply(grad_output, self, output, kernel_size, stride, padding,
                                           grad_at_zero);
}

}  // namespace

}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, Autograd, m) {
  m.impl("_norm_pool2d_forward", TORCH_FN(tiebreak::ops::forward_autograd));
  m.impl("_norm_pool2d_backward", TORCH_FN(tiebreak::ops::backward_autograd));
}
