// The ReLU backward CPU kernel: one flat pass (the forward is native relu).
#include "ops/relu_dispatch.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

namespace tiebreak::ops {

namespace {

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

at::Tensor relu_backward_cpu(const at::Tensor& grad_output, const at::Tensor& self, double alpha) {
  check_relu_backward(grad_output, self, alpha);
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

}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, CPU, m) { m.impl("_relu_backward", TORCH_FN(tiebreak::ops::relu_backward_cpu)); }
