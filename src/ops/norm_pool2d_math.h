#pragma once
// The arithmetic of NormPool (L2 pooling), written once for the CPU and CUDA
// kernels; the kernels only enumerate windows, in the orders that are part of
// the operator's definition:
// - forward: Σ x² over the window in row-major order (ih, then iw) in double,
//   sqrt in double, one rounding to the dtype. Squares of Half/BFloat16/Float
//   values neither overflow nor underflow in double, so a window with one
//   nonzero x has norm |x| exactly (e.g. 1e-23 or 3e19 in float32, whose
//   squares leave float's range). Double inputs whose squares would leave
//   double's range are summed scaled by the window's largest |x| (a second
//   pass): ‖x‖ = a·sqrt(Σ (x/a)²).
// - backward: each input element gathers the windows that cover it in
//   row-major window order (oh, then ow), in op-math: (x / n)·g for a window
//   of norm n = opmath(output) ≠ 0, grad_at_zero·g for n = 0; one rounding.

#include "ops/rounded_arithmetic.h"

#include <ATen/OpMathType.h>
#include <c10/macros/Macros.h>

#include <cmath>
#include <type_traits>

namespace tiebreak::ops {

template <typename scalar_t>
struct NormPoolMath {
  using opmath_t = at::opmath_type<scalar_t>;

  /// Running Σ x² and max |x| of one window.
  struct Sum {
    double squares = 0;
    double largest = 0;

    C10_HOST_DEVICE void add(scalar_t v) {
      const double x = static_cast<double>(static_cast<opmath_t>(v));
      squares = add_rn(squares, mul_rn(x, x));
      const double a = x < 0 ? -x : x;
      largest = a > largest ? a : largest;
    }
  };

  /// Whether the plain sum may have left double's range: only possible for
  /// Double inputs outside [2^-480, 2^480] (a window then needs `ScaledSum`).
  C10_HOST_DEVICE static bool needs_scaling(const Sum& s) {
    if constexpr (!std::is_same_v<scalar_t, double>) {
      return false;
    } else {
      constexpr double kSmall = 0x1p-480, kLarge = 0x1p480;
      return s.largest != 0 && (s.largest < kSmall || s.largest > kLarge) && s.largest - s.largest == 0;
    }
  }

  C10_HOST_DEVICE static scalar_t norm(const Sum& s) { return static_cast<scalar_t>(sqrt_rn(s.squares)); }

  /// Σ (x/a)² for a = the window's largest |x| (second pass of a scaled window).
  struct ScaledSum {
    double scale;
    double squares = 0;

    C10_HOST_DEVICE explicit ScaledSum(double a) : scale(a) {}
    C10_HOST_DEVICE void add(scalar_t v) {
      const double x = div_rn(static_cast<double>(v), scale);
      squares = add_rn(squares, mul_rn(x, x));
    }
    C10_HOST_DEVICE scalar_t norm() const { return static_cast<scalar_t>(mul_rn(scale, sqrt_rn(squares))); }
  };

  /// What window (norm n, upstream g) sends to its element x.
  C10_HOST_DEVICE static opmath_t window_gradient(scalar_t x, scalar_t n, scalar_t g, opmath_t grad_at_zero) {
    const auto norm = static_cast<opmath_t>(n);
    const auto grad = static_cast<opmath_t>(g);
    return norm == opmath_t(0) ? mul_rn(grad_at_zero, grad)
                               : mul_rn(div_rn(static_cast<opmath_t>(x), norm), grad);
  }
};

}  // namespace tiebreak::ops
