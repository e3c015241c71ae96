// The MaxPool operators: schemas, dispatcher entry points, the meta step and
// the Meta kernels (see ops/max_pool2d_dispatch.h for the layout).
// Python: `import tiebreak`, or torch.ops.load_library("libtiebreak.so") and
// torch.ops.tiebreak.max_pool2d(x, [2, 2], beta=1.0).

#include "tiebreak/ops/max_pool2d.h"

#include "ops/max_pool2d_dispatch.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cmath>
#include <string>

namespace tiebreak::ops {

namespace {

constexpr const char* kOp = "max_pool2d";
constexpr const char* kBackwardOp = "max_pool2d backward";

PoolFormulation parse_formulation(c10::string_view name) {
  return parse_pool_formulation(std::string_view(name.data(), name.size()));
}

PoolArgs max_pool2d_args(const char* op, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                         c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta) {
  auto args = parse_pool_args(op, kernel_size, stride, padding, dilation, ceil_mode);
  TORCH_CHECK(std::isfinite(beta), op, ": beta must be finite, got ", beta);
  return args;
}

}  // namespace

void check_max_pool2d_arguments(at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation, double beta) {
  max_pool2d_args(kOp, kernel_size, stride, padding, dilation, false, beta);
}

MaxPool2dForwardMeta max_pool2d_forward_meta(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                             c10::IntArrayRef stride, c10::IntArrayRef padding,
                                             c10::IntArrayRef dilation, bool ceil_mode, double beta,
                                             c10::string_view formulation) {
  check_pool_input(kOp, self);
  MaxPool2dForwardMeta m;
  m.geometry =
      make_pool_geometry(max_pool2d_args(kOp, kernel_size, stride, padding, dilation, ceil_mode, beta), self);
  m.formulation = parse_formulation(formulation);
  const auto sizes = pooled_sym_sizes(kOp, self, m.geometry);
  const auto options = self.options().memory_format(pool_memory_format(self));
  m.output = at::empty_symint(sizes, options);
  m.indices = at::empty_symint(sizes, options.dtype(at::kLong));
  m.ties = at::empty_symint(sizes, options.dtype(at::kInt));
  return m;
}

MaxPool2dBackwardMeta max_pool2d_backward_meta(const at::Tensor& grad_output, const at::Tensor& self,
                                               const at::Tensor& indices, const at::Tensor& ties,
                                               c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                               c10::IntArrayRef padding, c10::IntArrayRef dilation,
                                               bool ceil_mode, double beta, c10::string_view formulation) {
  check_pool_input(kBackwardOp, self);
  MaxPool2dBackwardMeta m;
  m.geometry = make_pool_geometry(
      max_pool2d_args(kBackwardOp, kernel_size, stride, padding, dilation, ceil_mode, beta), self);
  m.formulation = parse_formulation(formulation);
  const auto sizes = pooled_sym_sizes(kBackwardOp, self, m.geometry);
  check_like(kBackwardOp, "grad_output", grad_output, sizes, self.scalar_type(), self);
  check_like(kBackwardOp, "indices", indices, sizes, at::kLong, self);
  check_like(kBackwardOp, "ties", ties, sizes, at::kInt, self);
  m.grad_input = at::empty_symint(self.sym_sizes(), self.options().memory_format(pool_memory_format(self)));
  return m;
}

namespace dispatch {

at::Tensor max_pool2d(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                      c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                      c10::string_view formulation) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::max_pool2d", "")
                             .typed<decltype(dispatch::max_pool2d)>();
  return op.call(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_with_ties(const at::Tensor& self, c10::IntArrayRef kernel_size,
                                                        c10::IntArrayRef stride, c10::IntArrayRef padding,
                                                        c10::IntArrayRef dilation, bool ceil_mode,
                                                        double beta, c10::string_view formulation) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::max_pool2d_with_ties", "")
                             .typed<decltype(dispatch::max_pool2d_with_ties)>();
  return op.call(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> _max_pool2d_forward(
    const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool ceil_mode, double beta, c10::string_view formulation) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::_max_pool2d_forward", "")
                             .typed<decltype(dispatch::_max_pool2d_forward)>();
  return op.call(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
}

at::Tensor _max_pool2d_backward(const at::Tensor& grad_output, const at::Tensor& self,
                                const at::Tensor& indices, const at::Tensor& ties,
                                c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode,
                                double beta, c10::string_view formulation) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::_max_pool2d_backward", "")
                             .typed<decltype(dispatch::_max_pool2d_backward)>();
  return op.call(grad_output, self, indices, ties, kernel_size, stride, padding, dilation, ceil_mode, beta,
                 formulation);
}

}  // namespace dispatch

at::Tensor max_pool2d(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode, double beta,
                      PoolFormulation formulation) {
  return dispatch::max_pool2d(self, kernel_size, stride, padding, dilation, ceil_mode, beta,
                              to_string(formulation));
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_with_ties(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                                        at::IntArrayRef dilation, bool ceil_mode, double beta,
                                                        PoolFormulation formulation) {
  return dispatch::max_pool2d_with_ties(self, kernel_size, stride, padding, dilation, ceil_mode, beta,
                                        to_string(formulation));
}

namespace {

// The two public operators are compositions of the internal forward, which
// carries the autograd formula: they differentiate (and trace) through it.
at::Tensor max_pool2d_composite(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode,
                                double beta, c10::string_view formulation) {
  return std::get<0>(dispatch::_max_pool2d_forward(self, kernel_size, stride, padding, dilation, ceil_mode,
                                                   beta, formulation));
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_with_ties_composite(
    const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool ceil_mode, double beta, c10::string_view formulation) {
  auto [output, indices, ties] = dispatch::_max_pool2d_forward(self, kernel_size, stride, padding, dilation,
                                                               ceil_mode, beta, formulation);
  return {output, ties};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_meta(const at::Tensor& self,
                                                            c10::IntArrayRef kernel_size,
                                                            c10::IntArrayRef stride, c10::IntArrayRef padding,
                                                            c10::IntArrayRef dilation, bool ceil_mode,
                                                            double beta, c10::string_view formulation) {
  auto m =
      max_pool2d_forward_meta(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
  return {m.output, m.indices, m.ties};
}

at::Tensor backward_meta(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& indices,
                         const at::Tensor& ties, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                         c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                         c10::string_view formulation) {
  return max_pool2d_backward_meta(grad_output, self, indices, ties, kernel_size, stride, padding, dilation,
                                  ceil_mode, beta, formulation)
      .grad_input;
}

}  // namespace

}  // namespace tiebreak::ops

TORCH_LIBRARY_FRAGMENT(tiebreak, m) {
  m.def(
      "max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, "
      "bool ceil_mode=False, float beta=0., str formulation=\"pure\") -> Tensor");
  m.def(
      "max_pool2d_with_ties(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, "
      "int[2] dilation=1, bool ceil_mode=False, float beta=0., str formulation=\"pure\") -> "
      "(Tensor output, Tensor ties)");
  m.def(
      "_max_pool2d_forward(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, "
      "int[2] dilation=1, bool ceil_mode=False, float beta=0., str formulation=\"pure\") -> "
      "(Tensor output, Tensor indices, Tensor ties)");
  m.def(
      "_max_pool2d_backward(Tensor grad_output, Tensor self, Tensor indices, Tensor ties, int[2] "
      "kernel_size, "
      "int[2] stride, int[2] padding, int[2] dilation, bool ceil_mode, float beta, str formulation) -> "
      "Tensor");
}

TORCH_LIBRARY_IMPL(tiebreak, CompositeImplicitAutograd, m) {
  m.impl("max_pool2d", TORCH_FN(tiebreak::ops::max_pool2d_composite));
  m.impl("max_pool2d_with_ties", TORCH_FN(tiebreak::ops::max_pool2d_with_ties_composite));
}

TORCH_LIBRARY_IMPL(tiebreak, Meta, m) {
  m.impl("_max_pool2d_forward", TORCH_FN(tiebreak::ops::forward_meta));
  m.impl("_max_pool2d_backward", TORCH_FN(tiebreak::ops::backward_meta));
}
