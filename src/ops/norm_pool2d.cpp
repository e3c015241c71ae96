// The NormPool operators: schemas, dispatcher entry points, the meta step and
// the Meta kernels (see ops/norm_pool2d_dispatch.h for the layout).

#include "tiebreak/ops/norm_pool2d.h"

#include "ops/norm_pool2d_dispatch.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cmath>

namespace tiebreak::ops {

namespace {

constexpr const char* kOp = "norm_pool2d";
constexpr const char* kBackwardOp = "norm_pool2d backward";

PoolArgs norm_pool_args(const char* op, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                        c10::IntArrayRef padding, double grad_at_zero) {
  const int64_t one = 1;
  auto args = parse_pool_args(op, kernel_size, stride, padding, c10::IntArrayRef(one), false);
  TORCH_CHECK(std::isfinite(grad_at_zero), op, ": grad_at_zero must be finite, got ", grad_at_zero);
  return args;
}

}  // namespace

void check_norm_pool2d_arguments(c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                 c10::IntArrayRef padding, double grad_at_zero) {
  norm_pool_args(kOp, kernel_size, stride, padding, grad_at_zero);
}

NormPool2dMeta norm_pool2d_forward_meta(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                        c10::IntArrayRef stride, c10::IntArrayRef padding,
                                        double grad_at_zero) {
  NormPool2dMeta m;
  check_pool_input(kOp, self);
  m.geometry = make_pool_geometry(norm_pool_args(kOp, kernel_size, stride, padding, grad_at_zero), self);
  m.result = at::empty_symint(pooled_sym_sizes(kOp, self, m.geometry),
                              self.options().memory_format(pool_memory_format(self)));
  return m;
}

NormPool2dMeta norm_pool2d_backward_meta(const at::Tensor& grad_output, const at::Tensor& self,
                                         const at::Tensor& output, c10::IntArrayRef kernel_size,
                                         c10::IntArrayRef stride, c10::IntArrayRef padding,
                                         double grad_at_zero) {
  NormPool2dMeta m;
  check_pool_input(kBackwardOp, self);
  m.geometry =
      make_pool_geometry(norm_pool_args(kBackwardOp, kernel_size, stride, padding, grad_at_zero), self);
  const auto sizes = pooled_sym_sizes(kBackwardOp, self, m.geometry);
  check_like(kBackwardOp, "grad_output", grad_output, sizes, self.scalar_type(), self);
  check_like(kBackwardOp, "output", output, sizes, self.scalar_type(), self);
  m.result = at::empty_symint(self.sym_sizes(), self.options().memory_format(pool_memory_format(self)));
  return m;
}

namespace dispatch {

at::Tensor norm_pool2d(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                       c10::IntArrayRef padding, double grad_at_zero) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::norm_pool2d", "")
                             .typed<decltype(dispatch::norm_pool2d)>();
  return op.call(self, kernel_size, stride, padding, grad_at_zero);
}

at::Tensor _norm_pool2d_forward(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                c10::IntArrayRef padding, double grad_at_zero) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::_norm_pool2d_forward", "")
                             .typed<decltype(dispatch::_norm_pool2d_forward)>();
  return op.call(self, kernel_size, stride, padding, grad_at_zero);
}

at::Tensor _norm_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                 const at::Tensor& output, c10::IntArrayRef kernel_size,
                                 c10::IntArrayRef stride, c10::IntArrayRef padding, double grad_at_zero) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::_norm_pool2d_backward", "")
                             .typed<decltype(dispatch::_norm_pool2d_backward)>();
  return op.call(grad_output, self, output, kernel_size, stride, padding, grad_at_zero);
}

}  // namespace dispatch

at::Tensor norm_pool2d(const at::Tensor& input, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                       c10::IntArrayRef padding, double grad_at_zero) {
  return dispatch::norm_pool2d(input, kernel_size, stride, padding, grad_at_zero);
}

namespace {

at::Tensor norm_pool2d_composite(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                 c10::IntArrayRef stride, c10::IntArrayRef padding, double grad_at_zero) {
  return dispatch::_norm_pool2d_forward(self, kernel_size, stride, padding, grad_at_zero);
}

at::Tensor forward_meta(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                        c10::IntArrayRef padding, double grad_at_zero) {
  return norm_pool2d_forward_meta(self, kernel_size, stride, padding, grad_at_zero).result;
}

at::Tensor backward_meta(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                         c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
                         double grad_at_zero) {
  return norm_pool2d_backward_meta(grad_output, self, output, kernel_size, stride, padding, grad_at_zero)
      .result;
}

}  // namespace

}  // namespace tiebreak::ops

TORCH_LIBRARY_FRAGMENT(tiebreak, m) {
  m.def(
      "norm_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, "
      "float grad_at_zero=0.) -> Tensor");
  m.def(
      "_norm_pool2d_forward(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, "
      "float grad_at_zero=0.) -> Tensor");
  m.def(
      "_norm_pool2d_backward(Tensor grad_output, Tensor self, Tensor output, int[2] kernel_size, "
      "int[2] stride, int[2] padding, float grad_at_zero) -> Tensor");
}

TORCH_LIBRARY_IMPL(tiebreak, CompositeImplicitAutograd, m) {
  m.impl("norm_pool2d", TORCH_FN(tiebreak::ops::norm_pool2d_composite));
}

TORCH_LIBRARY_IMPL(tiebreak, Meta, m) {
  m.impl("_norm_pool2d_forward", TORCH_FN(tiebreak::ops::forward_meta));
  m.impl("_norm_pool2d_backward", TORCH_FN(tiebreak::ops::backward_meta));
}
