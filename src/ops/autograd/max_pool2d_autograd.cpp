// Autograd kernel of tiebreak::max_pool2d_with_ties: one device-independent
// torch::autograd::Function that reaches the device kernels through the
// dispatcher (_max_pool2d_forward / _max_pool2d_backward), so a device only
// has to register those two ops to be differentiable.

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <string>
#include <tuple>
#include <vector>

namespace tiebreak::ops {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::tuple<at::Tensor, at::Tensor, at::Tensor> call_forward(const at::Tensor& self,
                                                            c10::IntArrayRef kernel_size,
                                                            c10::IntArrayRef stride, c10::IntArrayRef padding,
                                                            c10::IntArrayRef dilation, bool ceil_mode,
                                                            double beta, c10::string_view formulation) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tiebreak::_max_pool2d_forward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                           const at::Tensor&, c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef,
                           c10::IntArrayRef, bool, double, c10::string_view)>();
  return op.call(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
}

at::Tensor call_backward(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& indices,
                         const at::Tensor& ties, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                         c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                         c10::string_view formulation) {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("tiebreak::_max_pool2d_backward", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef, bool,
                            double, c10::string_view)>();
  return op.call(grad_output, self, indices, ties, kernel_size, stride, padding, dilation, ceil_mode, beta,
                 formulation);
}

class MaxPool2dFunction : public torch::autograd::Function<MaxPool2dFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, c10::IntArrayRef kernel_size,
                               c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation,
                               bool ceil_mode, double beta, c10::string_view formulation) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [output, indices, ties] =
        call_forward(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
    ctx->save_for_backward({self, indices, ties});
    ctx->saved_data["kernel_size"] = kernel_size.vec();
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["dilation"] = dilation.vec();
    ctx->saved_data["ceil_mode"] = ceil_mode;
    ctx->saved_data["beta"] = beta;
    ctx->saved_data["formulation"] = std::string(formulation.data(), formulation.size());
    ctx->mark_non_differentiable({ties});
    return {output, ties};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto formulation = ctx->saved_data["formulation"].toStringRef();
    auto grad_input =
        call_backward(grad_outputs[0], saved[0], saved[1], saved[2],
                      ctx->saved_data["kernel_size"].toIntVector(), ctx->saved_data["stride"].toIntVector(),
                      ctx->saved_data["padding"].toIntVector(), ctx->saved_data["dilation"].toIntVector(),
                      ctx->saved_data["ceil_mode"].toBool(), ctx->saved_data["beta"].toDouble(), formulation);
    // One entry per forward argument; only `self` is differentiable.
    return {grad_input,   at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor> max_pool2d_with_ties_autograd(
    const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool ceil_mode, double beta, c10::string_view formulation) {
  auto result =
      MaxPool2dFunction::apply(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
  return {result[0], result[1]};
}

}  // namespace

}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, Autograd, m) {
  m.impl("max_pool2d_with_ties", TORCH_FN(tiebreak::ops::max_pool2d_with_ties_autograd));
}
