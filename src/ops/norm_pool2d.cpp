#include "tiebreak/ops/norm_pool2d.h"

#include "ops/norm_pool2d_wrapper.h"

#include "ops/kernels.h"
#include "ops/pool_geometry.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

namespace tiebreak::ops {

namespace {

constexpr const char* kOp = "tiebreak::norm_pool2d";

at::Tensor as_4d(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(0) : t; }

at::Tensor like_input_dim(const at::Tensor& t, const at::Tensor& input) {
  return input.dim() == 3 ? t.squeeze(0) : t;
}

at::Tensor norm_pool2d_forward_cpu_op(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                      c10::IntArrayRef stride, c10::IntArrayRef padding) {
  return run_norm_pool2d_forward(self, kernel_size, stride, padding, norm_pool2d_forward_cpu);
}

at::Tensor norm_pool2d_backward_cpu_op(const at::Tensor& grad_output, const at::Tensor& self,
                                       const at::Tensor& output, c10::IntArrayRef kernel_size,
                                       c10::IntArrayRef stride, c10::IntArrayRef padding,
                                       double grad_at_zero) {
  return run_norm_pool2d_backward(grad_output, self, output, kernel_size, stride, padding, grad_at_zero,
                                  norm_pool2d_backward_cpu);
}

using ForwardSig = at::Tensor(const at::Tensor&, c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef);
using BackwardSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, c10::IntArrayRef,
                               c10::IntArrayRef, c10::IntArrayRef, double);
using OpSig = at::Tensor(const at::Tensor&, c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef, double);

const c10::TypedOperatorHandle<ForwardSig>& forward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::_norm_pool2d_forward", "")
                             .typed<ForwardSig>();
  return op;
}

const c10::TypedOperatorHandle<BackwardSig>& backward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::_norm_pool2d_backward", "")
                             .typed<BackwardSig>();
  return op;
}

const c10::TypedOperatorHandle<OpSig>& norm_pool2d_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("tiebreak::norm_pool2d", "").typed<OpSig>();
  return op;
}

void check_grad_at_zero(double grad_at_zero) {
  TORCH_CHECK(std::isfinite(grad_at_zero), kOp, ": expected a finite grad_at_zero, got ", grad_at_zero);
}

// Without autograd (inference mode, or tensors that never need a gradient).
at::Tensor norm_pool2d_plain(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                             c10::IntArrayRef padding, double grad_at_zero) {
  check_grad_at_zero(grad_at_zero);
  return forward_op().call(self, kernel_size, stride, padding);
}

struct NormPool2dFunction : public torch::autograd::Function<NormPool2dFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& self,
                            c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
                            double grad_at_zero) {
    check_grad_at_zero(grad_at_zero);
    at::AutoDispatchBelowADInplaceOrView guard;
    auto output = forward_op().call(self, kernel_size, stride, padding);
    ctx->save_for_backward({self, output});
    ctx->saved_data["kernel_size"] = kernel_size.vec();
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["grad_at_zero"] = grad_at_zero;
    return output;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto kernel_size = ctx->saved_data["kernel_size"].toIntVector();
    auto stride = ctx->saved_data["stride"].toIntVector();
    auto padding = ctx->saved_data["padding"].toIntVector();
    auto grad_input = backward_op().call(grad_outputs[0], saved[0], saved[1], kernel_size, stride, padding,
                                         ctx->saved_data["grad_at_zero"].toDouble());
    return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor norm_pool2d_autograd(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                c10::IntArrayRef padding, double grad_at_zero) {
  return NormPool2dFunction::apply(self, kernel_size, stride, padding, grad_at_zero);
}

}  // namespace

PoolGeometry norm_pool_geometry(const at::Tensor& input, c10::IntArrayRef kernel_size,
                                c10::IntArrayRef stride, c10::IntArrayRef padding) {
  // NormPool has no dilation or ceil_mode: the windows are MaxPool's with dilation 1, floor mode.
  const int64_t one = 1;
  return make_pool_geometry(kOp, input, kernel_size, stride, padding, c10::IntArrayRef(one), false);
}

at::Tensor run_norm_pool2d_forward(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                   c10::IntArrayRef stride, c10::IntArrayRef padding,
                                   NormPoolForwardKernel kernel) {
  auto geometry = norm_pool_geometry(self, kernel_size, stride, padding);
  return like_input_dim(kernel(as_4d(self), geometry), self);
}

at::Tensor run_norm_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                    const at::Tensor& output, c10::IntArrayRef kernel_size,
                                    c10::IntArrayRef stride, c10::IntArrayRef padding, double grad_at_zero,
                                    NormPoolBackwardKernel kernel) {
  auto geometry = norm_pool_geometry(self, kernel_size, stride, padding);
  std::vector<int64_t> expected(self.sizes().begin(), self.sizes().end() - 2);
  expected.push_back(geometry.output_h);
  expected.push_back(geometry.output_w);
  TORCH_CHECK(grad_output.sizes() == c10::IntArrayRef(expected), kOp,
              " backward: expected grad_output of shape ", c10::IntArrayRef(expected), ", got ",
              grad_output.sizes());
  TORCH_CHECK(output.sizes() == c10::IntArrayRef(expected), kOp, " backward: expected output of shape ",
              c10::IntArrayRef(expected), ", got ", output.sizes());
  TORCH_CHECK(grad_output.scalar_type() == self.scalar_type() && output.scalar_type() == self.scalar_type(),
              kOp, " backward: expected grad_output and output of dtype ", self.scalar_type(), ", got ",
              grad_output.scalar_type(), " and ", output.scalar_type());
  TORCH_CHECK(grad_output.device() == self.device() && output.device() == self.device(), kOp,
              " backward: expected grad_output and output on ", self.device(), ", got ", grad_output.device(),
              " and ", output.device());
  auto grad_input = kernel(as_4d(grad_output), as_4d(self), as_4d(output), geometry, grad_at_zero);
  return like_input_dim(grad_input, self);
}

at::Tensor norm_pool2d(const at::Tensor& input, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                       c10::IntArrayRef padding, double grad_at_zero) {
  return norm_pool2d_op().call(input, kernel_size, stride, padding, grad_at_zero);
}

// The CUDA kernels (ops/cuda/) register themselves for the two internal ops with these schemas.
TORCH_LIBRARY_FRAGMENT(tiebreak, m) {
  m.def(
      "norm_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, float "
      "grad_at_zero=0.) "
      "-> Tensor");
  m.def("_norm_pool2d_forward(Tensor self, int[2] kernel_size, int[2] stride, int[2] padding) -> Tensor");
  m.def(
      "_norm_pool2d_backward(Tensor grad_output, Tensor self, Tensor output, int[2] kernel_size, int[2] "
      "stride, "
      "int[2] padding, float grad_at_zero) -> Tensor");
}

TORCH_LIBRARY_IMPL(tiebreak, CompositeExplicitAutograd, m) { m.impl("norm_pool2d", norm_pool2d_plain); }

TORCH_LIBRARY_IMPL(tiebreak, Autograd, m) { m.impl("norm_pool2d", norm_pool2d_autograd); }

TORCH_LIBRARY_IMPL(tiebreak, CPU, m) {
  m.impl("_norm_pool2d_forward", norm_pool2d_forward_cpu_op);
  m.impl("_norm_pool2d_backward", norm_pool2d_backward_cpu_op);
}

}  // namespace tiebreak::ops
