#include "tiebreak/ops/relu.h"

#include "ops/relu_backward.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <cmath>

namespace tiebreak::ops {

namespace {

void check_floating(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": expected a floating point ", name,
              " (Half, BFloat16, Float or Double), got ", t.scalar_type());
}

at::Tensor relu_forward_kernel(const at::Tensor& self, double alpha) {
  check_floating("tiebreak::relu", "input", self);
  TORCH_CHECK(std::isfinite(alpha), "tiebreak::relu: expected a finite alpha (ReLU'(0)), got ", alpha);
  return at::relu(self);
}

// Only for α ≠ 0 (α = 0 is native threshold_backward). Written with selects
// rather than branches so the compiler can vectorise it.
template <typename scalar_t>
void relu_backward_loop(scalar_t* out, const scalar_t* g, const scalar_t* x, int64_t n, double alpha) {
  using opmath_t = at::opmath_type<scalar_t>;
  const auto a = static_cast<opmath_t>(alpha);
  at::parallel_for(0, n, at::internal::GRAIN_SIZE, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const opmath_t xi = static_cast<opmath_t>(x[i]);
      const opmath_t gi = static_cast<opmath_t>(g[i]);
      // x > 0 or NaN: g; x < 0: 0; x = ±0: α·g (one rounding to scalar_t below).
      const opmath_t r = xi < opmath_t(0) ? opmath_t(0) : (xi == opmath_t(0) ? a * gi : gi);
      out[i] = static_cast<scalar_t>(r);
    }
  });
}

}  // namespace

// Device-generic backward from ATen ops. at::mul with a Scalar computes in the
// op-math type (float for Half/BFloat16) and rounds once, as the CPU loop does.
at::Tensor relu_backward_generic(const at::Tensor& grad_output, const at::Tensor& self, double alpha) {
  check_floating("tiebreak::_relu_backward", "input", self);
  TORCH_CHECK(grad_output.sizes() == self.sizes(), "tiebreak::_relu_backward: expected grad_output of shape ",
              self.sizes(), ", got ", grad_output.sizes());
  TORCH_CHECK(grad_output.scalar_type() == self.scalar_type(),
              "tiebreak::_relu_backward: expected grad_output of dtype ", self.scalar_type(), ", got ",
              grad_output.scalar_type());
  // Native threshold_backward: 0 where x <= 0, else g (NaN passes g).
  auto grad_input = at::threshold_backward(grad_output, self, 0);
  if (alpha != 0.0) {
    grad_input = at::where(self == 0, grad_output * alpha, grad_input);
  }
  return grad_input;
}

at::Tensor relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self, double alpha) {
  check_floating("tiebreak::_relu_backward", "input", self);
  TORCH_CHECK(grad_output.sizes() == self.sizes(), "tiebreak::_relu_backward: expected grad_output of shape ",
              self.sizes(), ", got ", grad_output.sizes());
  TORCH_CHECK(grad_output.scalar_type() == self.scalar_type(),
              "tiebreak::_relu_backward: expected grad_output of dtype ", self.scalar_type(), ", got ",
              grad_output.scalar_type());
  if (alpha == 0.0) return at::threshold_backward(grad_output, self, 0);  // native, vectorised
  // One memory format for all three tensors, so the loop can run flat.
  const auto format = self.suggest_memory_format();
  auto x = self.contiguous(format);
  auto g = grad_output.contiguous(format);
  auto out = at::empty_like(x, x.options(), format);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "tiebreak_relu_backward_cpu", [&] {
        relu_backward_loop<scalar_t>(out.data_ptr<scalar_t>(), g.const_data_ptr<scalar_t>(),
                                     x.const_data_ptr<scalar_t>(), x.numel(), alpha);
      });
  return out;
}

namespace {

const c10::TypedOperatorHandle<at::Tensor(const at::Tensor&, double)>& relu_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::relu", "")
                             .typed<at::Tensor(const at::Tensor&, double)>();
  return op;
}

const c10::TypedOperatorHandle<at::Tensor(const at::Tensor&, const at::Tensor&, double)>& relu_backward_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("tiebreak::_relu_backward", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double)>();
  return op;
}

struct ReLUFunction : public torch::autograd::Function<ReLUFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& self, double alpha) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto output = relu_op().call(self, alpha);
    ctx->save_for_backward({self});
    ctx->saved_data["alpha"] = alpha;
    return output;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto self = ctx->get_saved_variables()[0];
    auto grad_input = relu_backward_op().call(grad_outputs[0], self, ctx->saved_data["alpha"].toDouble());
    return {grad_input, at::Tensor()};
  }
};

at::Tensor relu_autograd(const at::Tensor& self, double alpha) { return ReLUFunction::apply(self, alpha); }

}  // namespace

at::Tensor relu(const at::Tensor& input, double alpha) { return relu_op().call(input, alpha); }

at::Tensor relu_backward(const at::Tensor& grad_output, const at::Tensor& input, double alpha) {
  return relu_backward_op().call(grad_output, input, alpha);
}

TORCH_LIBRARY_FRAGMENT(tiebreak, m) {
  m.def("relu(Tensor self, float alpha=0.) -> Tensor");
  m.def("_relu_backward(Tensor grad_output, Tensor self, float alpha) -> Tensor");
}

TORCH_LIBRARY_IMPL(tiebreak, CompositeExplicitAutograd, m) {
  m.impl("relu", relu_forward_kernel);
  m.impl("_relu_backward", relu_backward_generic);
}

TORCH_LIBRARY_IMPL(tiebreak, CPU, m) { m.impl("_relu_backward", relu_backward_cpu); }

TORCH_LIBRARY_IMPL(tiebreak, Autograd, m) { m.impl("relu", relu_autograd); }

}  // namespace tiebreak::ops
