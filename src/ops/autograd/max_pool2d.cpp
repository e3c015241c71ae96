// Autograd kernels of the MaxPool operators, device-independent: they reach
// the device kernels through the dispatcher, so a device only registers
// _max_pool2d_forward and _max_pool2d_backward to be differentiable to any
// order.
//
// - _max_pool2d_forward: output differentiable, indices and ties not; its
//   backward is _max_pool2d_backward, itself differentiable.
// - _max_pool2d_backward: grad_input = J_βᵀ g is linear in g, so its derivative
//   with respect to g is J_β applied to the incoming gradient v (per window
//   (1−β)·v[i*] + β/t·Σ_{l∈T_w} v_l; untied windows v[i*], windows with no tap
//   0), computed from ATen ops in op-math, whose own autograd gives every
//   higher order. With respect to x it is zero almost everywhere (J_β is
//   piecewise constant in x), and it is returned as such. Both formulations
//   share this derivative: the mixture's dtype roundings are a property of its
//   first-order evaluation, not of the Jacobian.

#include "ops/autograd/saved_parameter.h"
#include "ops/max_pool2d_dispatch.h"

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <limits>
#include <string>
#include <tuple>

namespace tiebreak::ops {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// The pooling arguments a Function saves, and passes on to the next op.
struct SavedPoolArgs {
  std::vector<int64_t> kernel_size, stride, padding, dilation;
  bool ceil_mode;
  double beta;
  std::string formulation;

  static void save(AutogradContext* ctx, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                   c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                   c10::string_view formulation) {
    ctx->saved_data["kernel_size"] = kernel_size.vec();
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["dilation"] = dilation.vec();
    ctx->saved_data["ceil_mode"] = ceil_mode;
    ctx->saved_data["beta"] = beta;
    ctx->saved_data["formulation"] = std::string(formulation.data(), formulation.size());
  }

  static SavedPoolArgs load(AutogradContext* ctx) {
    return {ctx->saved_data["kernel_size"].toIntVector(), ctx->saved_data["stride"].toIntVector(),
            ctx->saved_data["padding"].toIntVector(),     ctx->saved_data["dilation"].toIntVector(),
            ctx->saved_data["ceil_mode"].toBool(),        ctx->saved_data["beta"].toDouble(),
            ctx->saved_data["formulation"].toStringRef()};
  }
};

/// J_β v per window (see the file comment), output-shaped, in v's dtype.
at::Tensor apply_jacobian(const at::Tensor& v, const at::Tensor& self, const at::Tensor& indices,
                          const at::Tensor& ties, const SavedPoolArgs& s) {
  const PoolArgs a = parse_pool_args("max_pool2d double backward", s.kernel_size, s.stride, s.padding,
                                     s.dilation, s.ceil_mode);
  const auto opmath = at::toOpMathType(v.scalar_type());
  const auto v4 = as_4d(v).to(opmath);
  const auto x4 = as_4d(self).detach().to(opmath);
  const auto idx4 = as_4d(indices);
  const c10::SymInt n = v4.sym_size(0), c = v4.sym_size(1), h = v4.sym_size(2), w = v4.sym_size(3);
  const c10::SymInt oh = idx4.sym_size(2), ow = idx4.sym_size(3);
  const std::vector<c10::SymInt> per_window{n, c, oh * ow};

  const auto t = as_4d(ties).reshape_symint(per_window);
  // A window with no tap (t = 0) holds a position outside the plane: point it
  // anywhere valid, it is zeroed below.
  const auto flat_index = idx4.reshape_symint(per_window).masked_fill(t.eq(0), 0);
  const std::vector<c10::SymInt> planes{n, c, h * w};
  auto result = v4.reshape_symint(planes).gather(2, flat_index);
  if (s.beta != 0.0) {
    // Every window as one column (im2col over an input padded to cover exactly
    // the windows: NaN in x, which ties with nothing, 0 in v).
    const c10::SymInt padded_h = (oh - 1) * a.stride_h + a.dilation_h * (a.kernel_h - 1) + 1;
    const c10::SymInt padded_w = (ow - 1) * a.stride_w + a.dilation_w * (a.kernel_w - 1) + 1;
    const std::vector<c10::SymInt> pad{c10::SymInt(a.pad_w), padded_w - w - a.pad_w, c10::SymInt(a.pad_h),
                                       padded_h - h - a.pad_h};
    const std::vector<int64_t> kernel{a.kernel_h, a.kernel_w}, dilation{a.dilation_h, a.dilation_w},
        stride{a.stride_h, a.stride_w};
    const std::vector<c10::SymInt> columns{n, c, c10::SymInt(a.kernel_h * a.kernel_w), oh * ow};
    auto window_columns = [&](const at::Tensor& t4, double fill) {
      return at::im2col(at::constant_pad_nd_symint(t4, pad, fill), kernel, dilation, {0, 0}, stride)
          .view_symint(columns);
    };
    const auto maxima = x4.reshape_symint(planes).gather(2, flat_index).unsqueeze(2);
    const auto tied = window_columns(x4, std::numeric_limits<double>::quiet_NaN()).eq(maxima);
    const auto tied_sum = at::where(tied, window_columns(v4, 0.0), at::zeros({}, v4.options())).sum(2);
    const auto tied_mean = tied_sum / t.clamp_min(1).to(opmath);
    const auto mixed = s.beta == 1.0 ? tied_mean : result * (1.0 - s.beta) + tied_mean * s.beta;
    result = at::where(t.ge(2), mixed, result);
  }
  result = result.masked_fill(t.eq(0), 0);
  return result.reshape_symint(indices.sym_sizes()).to(v.scalar_type());
}

class MaxPool2dBackwardFunction : public torch::autograd::Function<MaxPool2dBackwardFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad_output, const at::Tensor& self,
                            const at::Tensor& indices, const at::Tensor& ties, c10::IntArrayRef kernel_size,
                            c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation,
                            bool ceil_mode, double beta, c10::string_view formulation) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto grad_input = dispatch::_max_pool2d_backward(grad_output, self, indices, ties, kernel_size, stride,
                                                     padding, dilation, ceil_mode, beta, formulation);
    ctx->save_for_backward({self, indices, ties});
    SavedPoolArgs::save(ctx, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
    return grad_input;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    at::Tensor grad_grad_output;
    if (grad_outputs[0].defined()) {
      grad_grad_output =
          apply_jacobian(grad_outputs[0], saved[0], saved[1], saved[2], SavedPoolArgs::load(ctx));
    }
    // grad_output, then self (zero almost everywhere), indices, ties and the
    // non-tensor arguments.
    return {grad_grad_output, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(),     at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class MaxPool2dFunction : public torch::autograd::Function<MaxPool2dFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& self, c10::IntArrayRef kernel_size,
                               c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation,
                               bool ceil_mode, double beta, c10::string_view formulation) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [output, indices, ties] = dispatch::_max_pool2d_forward(self, kernel_size, stride, padding, dilation,
                                                                 ceil_mode, beta, formulation);
    ctx->save_for_backward({self, indices, ties});
    SavedPoolArgs::save(ctx, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
    ctx->mark_non_differentiable({indices, ties});
    return {output, indices, ties};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    at::Tensor grad_input;
    if (grad_outputs[0].defined()) {
      const auto s = SavedPoolArgs::load(ctx);
      // Through the dispatcher with autograd: differentiable again.
      grad_input =
          dispatch::_max_pool2d_backward(grad_outputs[0], saved[0], saved[1], saved[2], s.kernel_size,
                                         s.stride, s.padding, s.dilation, s.ceil_mode, s.beta, s.formulation);
    }
    return {grad_input,   at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_autograd(
    const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool ceil_mode, double beta, c10::string_view formulation) {
  auto r =
      MaxPool2dFunction::apply(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
  return {r[0], r[1], r[2]};
}

at::Tensor backward_autograd(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& indices,
                             const at::Tensor& ties, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                             c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                             c10::string_view formulation) {
  return MaxPool2dBackwardFunction::apply(grad_output, self, indices, ties, kernel_size, stride, padding,
                                          dilation, ceil_mode, beta, formulation);
}

}  // namespace

namespace detail {

SavedParameter max_pool2d_saved_beta(torch::autograd::Node& node) {
  if (auto* pool = dynamic_cast<torch::autograd::CppNode<MaxPool2dFunction>*>(&node)) {
    auto& data = pool->ctx_.saved_data;
    return {&data.at("beta"), data.at("formulation").toStringRef() != "pure"};
  }
  if (auto* backward = dynamic_cast<torch::autograd::CppNode<MaxPool2dBackwardFunction>*>(&node))
    return {&backward->ctx_.saved_data.at("beta"), true};
  return {};
}

}  // namespace detail

}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, Autograd, m) {
  m.impl("_max_pool2d_forward", TORCH_FN(tiebreak::ops::forward_autograd));
  m.impl("_max_pool2d_backward", TORCH_FN(tiebreak::ops::backward_autograd));
}
