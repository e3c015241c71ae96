// The tiebreak MaxPool operators in the dispatcher:
//   tiebreak::_max_pool2d_forward / _max_pool2d_backward  (device kernels: CPU here, CUDA in ops/cuda/)
//   tiebreak::max_pool2d_with_ties                        (Autograd kernel in ops/autograd/)
//   tiebreak::max_pool2d                                  (CompositeImplicitAutograd)
// Python: torch.ops.load_library("libtiebreak.so"); torch.ops.tiebreak.max_pool2d(x, [2, 2], beta=1.0).

#include "tiebreak/ops/max_pool2d.h"

#include "ops/kernels.h"
#include "ops/max_pool2d_impl.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cmath>
#include <string>

namespace tiebreak::ops {

namespace {

constexpr const char* kOp = "max_pool2d";

/// The output shape `self` pools to (3-D or 4-D like `self`).
std::vector<int64_t> pooled_sizes(const at::Tensor& self, const PoolGeometry& g) {
  auto sizes = self.sizes().vec();
  sizes[sizes.size() - 2] = g.output_h;
  sizes[sizes.size() - 1] = g.output_w;
  return sizes;
}

void check_companion(const char* name, const at::Tensor& tensor, const at::Tensor& self,
                     const std::vector<int64_t>& expected_sizes, c10::optional<at::ScalarType> dtype) {
  TORCH_CHECK(tensor.defined(), "max_pool2d backward: ", name, " is an undefined tensor");
  TORCH_CHECK(tensor.sizes() == c10::IntArrayRef(expected_sizes), "max_pool2d backward: expected ", name,
              " of shape ", c10::IntArrayRef(expected_sizes), " (the pooled shape of the input), got ",
              tensor.sizes());
  TORCH_CHECK(tensor.device() == self.device(), "max_pool2d backward: expected ", name, " on ", self.device(),
              " like the input, got ", tensor.device());
  if (dtype) {
    TORCH_CHECK(tensor.scalar_type() == *dtype, "max_pool2d backward: expected ", name, " of dtype ", *dtype,
                ", got ", tensor.scalar_type());
  }
}

at::Tensor as_4d(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(0) : t; }

}  // namespace

void check_pool_beta(double beta) {
  TORCH_CHECK(std::isfinite(beta), "max_pool2d: beta must be finite, got ", beta);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_impl(
    MaxPool2dForwardKernel kernel, const at::Tensor& self, c10::IntArrayRef kernel_size,
    c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
    c10::string_view formulation) {
  const PoolGeometry g = make_pool_geometry(kOp, self, kernel_size, stride, padding, dilation, ceil_mode);
  check_pool_beta(beta);
  const PoolFormulation f = parse_pool_formulation(std::string_view(formulation.data(), formulation.size()));
  auto [output, indices, ties] = kernel(as_4d(self), g, beta, f);
  if (self.dim() == 3) return {output.squeeze(0), indices.squeeze(0), ties.squeeze(0)};
  return {output, indices, ties};
}

at::Tensor max_pool2d_backward_impl(MaxPool2dBackwardKernel kernel, const at::Tensor& grad_output,
                                    const at::Tensor& self, const at::Tensor& indices, const at::Tensor& ties,
                                    c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                    c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode,
                                    double beta, c10::string_view formulation) {
  const PoolGeometry g = make_pool_geometry(kOp, self, kernel_size, stride, padding, dilation, ceil_mode);
  check_pool_beta(beta);
  const PoolFormulation f = parse_pool_formulation(std::string_view(formulation.data(), formulation.size()));
  const auto sizes = pooled_sizes(self, g);
  check_companion("grad_output", grad_output, self, sizes, self.scalar_type());
  check_companion("indices", indices, self, sizes, at::kLong);
  check_companion("ties", ties, self, sizes, at::kInt);
  auto grad_input = kernel(as_4d(grad_output), as_4d(self), as_4d(indices), as_4d(ties), g, beta, f);
  return self.dim() == 3 ? grad_input.squeeze(0) : grad_input;
}

namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_cpu(const at::Tensor& self,
                                                           c10::IntArrayRef kernel_size,
                                                           c10::IntArrayRef stride, c10::IntArrayRef padding,
                                                           c10::IntArrayRef dilation, bool ceil_mode,
                                                           double beta, c10::string_view formulation) {
  return max_pool2d_forward_impl(max_pool2d_forward_cpu, self, kernel_size, stride, padding, dilation,
                                 ceil_mode, beta, formulation);
}

at::Tensor backward_cpu(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& indices,
                        const at::Tensor& ties, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                        c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                        c10::string_view formulation) {
  return max_pool2d_backward_impl(max_pool2d_backward_cpu, grad_output, self, indices, ties, kernel_size,
                                  stride, padding, dilation, ceil_mode, beta, formulation);
}

using ForwardSignature = std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, c10::IntArrayRef,
                                                                        c10::IntArrayRef, c10::IntArrayRef,
                                                                        c10::IntArrayRef, bool, double,
                                                                        c10::string_view);
using WithTiesSignature = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, c10::IntArrayRef,
                                                             c10::IntArrayRef, c10::IntArrayRef,
                                                             c10::IntArrayRef, bool, double,
                                                             c10::string_view);

// Below autograd (inference mode, or inside another kernel): the pooled output
// and the tie counts, from whichever device kernel the input selects.
std::tuple<at::Tensor, at::Tensor> with_ties_below_autograd(const at::Tensor& self,
                                                            c10::IntArrayRef kernel_size,
                                                            c10::IntArrayRef stride, c10::IntArrayRef padding,
                                                            c10::IntArrayRef dilation, bool ceil_mode,
                                                            double beta, c10::string_view formulation) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tiebreak::_max_pool2d_forward", "")
                       .typed<ForwardSignature>();
  auto [output, indices, ties] =
      op.call(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
  return {output, ties};
}

at::Tensor max_pool2d_composite(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode,
                                double beta, c10::string_view formulation) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tiebreak::max_pool2d_with_ties", "")
                       .typed<WithTiesSignature>();
  return std::get<0>(op.call(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation));
}

}  // namespace

at::Tensor max_pool2d(const at::Tensor& self, at::IntArrayRef kernel_size, at::IntArrayRef stride,
                      at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode, double beta,
                      PoolFormulation formulation) {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("tiebreak::max_pool2d", "")
          .typed<at::Tensor(const at::Tensor&, c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef,
                            c10::IntArrayRef, bool, double, c10::string_view)>();
  const std::string name = to_string(formulation);
  return op.call(self, kernel_size, stride, padding, dilation, ceil_mode, beta, name);
}

std::tuple<at::Tensor, at::Tensor> max_pool2d_with_ties(const at::Tensor& self, at::IntArrayRef kernel_size,
                                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                                        at::IntArrayRef dilation, bool ceil_mode, double beta,
                                                        PoolFormulation formulation) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("tiebreak::max_pool2d_with_ties", "")
                       .typed<WithTiesSignature>();
  const std::string name = to_string(formulation);
  return op.call(self, kernel_size, stride, padding, dilation, ceil_mode, beta, name);
}

}  // namespace tiebreak::ops

TORCH_LIBRARY_FRAGMENT(tiebreak, m) {
  m.def(
      "_max_pool2d_forward(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, "
      "int[2] dilation=1, bool ceil_mode=False, float beta=0., str formulation=\"pure\") -> (Tensor, Tensor, "
      "Tensor)");
  m.def(
      "_max_pool2d_backward(Tensor grad_output, Tensor self, Tensor indices, Tensor ties, int[2] "
      "kernel_size, "
      "int[2] stride, int[2] padding, int[2] dilation, bool ceil_mode, float beta, str formulation) -> "
      "Tensor");
  m.def(
      "max_pool2d_with_ties(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, "
      "int[2] dilation=1, bool ceil_mode=False, float beta=0., str formulation=\"pure\") -> "
      "(Tensor output, Tensor ties)");
  m.def(
      "max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, "
      "bool ceil_mode=False, float beta=0., str formulation=\"pure\") -> Tensor",
      torch::dispatch(c10::DispatchKey::CompositeImplicitAutograd,
                      TORCH_FN(tiebreak::ops::max_pool2d_composite)));
}

TORCH_LIBRARY_IMPL(tiebreak, CPU, m) {
  m.impl("_max_pool2d_forward", TORCH_FN(tiebreak::ops::forward_cpu));
  m.impl("_max_pool2d_backward", TORCH_FN(tiebreak::ops::backward_cpu));
}

TORCH_LIBRARY_IMPL(tiebreak, CompositeExplicitAutograd, m) {
  m.impl("max_pool2d_with_ties", TORCH_FN(tiebreak::ops::with_ties_below_autograd));
}
