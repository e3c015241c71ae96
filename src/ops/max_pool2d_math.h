#pragma once
// The arithmetic of the MaxPool β-Jacobian, written once for the CPU kernels
// (src/ops/cpu/) and the CUDA kernels (src/ops/cuda/): the mixture's forward
// value, the J_β shares a window sends to its tied positions and to native's
// choice i*, and the types they accumulate in. The kernels only decide which
// windows cover which element; every number comes from here.
//
// Each step is rounded on its own (ops/rounded_arithmetic.h).
//
// The two devices differ where ATen itself differs, and each difference is a
// parameter here:
// - ScalarRounding: how a Python-float β meets a tensor in ATen's binary
//   kernels. The CPU kernels keep the double value (cast to op-math); CUDA's
//   TensorIterator first casts the scalar to the tensor's dtype (β = 0.1 becomes
//   half(0.1) in fp16).
// - MixtureAccumulation: how native max_pool2d's backward adds the
//   contributions of overlapping windows. The CPU kernel adds each one into the
//   dtype (every Half/BFloat16 add rounded); the CUDA kernel gathers in op-math
//   and rounds once. The mixture formulation follows each.

#include "ops/rounded_arithmetic.h"

#include <ATen/OpMathType.h>
#include <c10/macros/Macros.h>

#include <cstdint>
#include <type_traits>

namespace tiebreak::ops {

enum class ScalarRounding { OpMath, Dtype };
enum class MixtureAccumulation { Dtype, OpMath };

/// The accumulator of the pure formulation: double for Float and Double (one
/// rounding to float at the end), float for Half and BFloat16.
template <typename scalar_t>
using pure_acc_t = std::conditional_t<std::is_same_v<scalar_t, float>, double, at::opmath_type<scalar_t>>;

/// Everything a kernel needs to turn an upstream gradient g_w into the
/// contributions of window w (t_w tied maxima, i* native's choice).
///
/// pure:    J_β entries formed in double — β/t at every tied position, β/t +
///          (1−β) at i*, exactly 1 at i* of an untied window (so β never touches
///          an untied gradient) — each multiplied by g in pure_acc_t. A zero
///          entry contributes nothing (an inf g stays out of positions J_β does
///          not connect, as in native backward).
/// mixture: what PyTorch's autograd of β·MinNormPool(x) + (1−β)·MaxPool2d(x)
///          sends to each branch: fl(fl(β·g)/t) to every tied position (the
///          study's MinNormPool, t = 1 for an untied window), fl((1−β)·g) to i*.
///          The two branches are separate tensors there: a kernel keeps one
///          accumulator per branch and adds them once, in the dtype.
template <typename scalar_t>
struct MaxPoolJacobian {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = pure_acc_t<scalar_t>;

  double beta;
  opmath_t mix_beta;            // β as ATen applies it on this device
  opmath_t mix_one_minus_beta;  // (1−β) formed in double (Python), then as ATen applies it

  MaxPoolJacobian(double b, ScalarRounding rounding)
      : beta(b), mix_beta(coefficient(b, rounding)), mix_one_minus_beta(coefficient(1.0 - b, rounding)) {}

  static opmath_t coefficient(double value, ScalarRounding rounding) {
    return rounding == ScalarRounding::Dtype ? static_cast<opmath_t>(static_cast<scalar_t>(value))
                                             : static_cast<opmath_t>(value);
  }

  /// Pure: the J_β entry of a tied window (t >= 2) at a tied position (`selected`
  /// false) or at i* (`selected` true).
  C10_HOST_DEVICE acc_t pure_entry(int32_t t, bool selected) const {
    const double share = beta / t;
    return static_cast<acc_t>(selected ? share + (1.0 - beta) : share);
  }

  /// Pure: the contribution of entry `e` to one element (0 for e = 0).
  C10_HOST_DEVICE static acc_t pure_contribution(acc_t e, opmath_t g) {
    return e == acc_t(0) ? acc_t(0) : mul_rn(e, static_cast<acc_t>(g));
  }

  /// Mixture: the min-norm branch's share for each of the t tied positions (t >= 1).
  C10_HOST_DEVICE scalar_t mixture_min_share(opmath_t g, int32_t t) const {
    const auto gb = static_cast<scalar_t>(mul_rn(mix_beta, g));
    return static_cast<scalar_t>(div_rn(static_cast<opmath_t>(gb), static_cast<opmath_t>(t)));
  }

  /// Mixture: the native branch's share for i*.
  C10_HOST_DEVICE scalar_t mixture_native_share(opmath_t g) const {
    return static_cast<scalar_t>(mul_rn(mix_one_minus_beta, g));
  }

  /// Mixture forward: fl(fl(β·m) + fl((1−β)·m)) for the window maximum m.
  C10_HOST_DEVICE scalar_t mixture_value(opmath_t m) const {
    const auto p1 = static_cast<scalar_t>(mul_rn(mix_beta, m));
    const auto p2 = static_cast<scalar_t>(mul_rn(mix_one_minus_beta, m));
    return static_cast<scalar_t>(add_rn(static_cast<opmath_t>(p1), static_cast<opmath_t>(p2)));
  }

  /// Adds a branch share to an accumulator in the dtype (x = fl(x + s)), as
  /// native CPU backward does.
  C10_HOST_DEVICE static scalar_t add_in_dtype(scalar_t x, scalar_t s) {
    return static_cast<scalar_t>(add_rn(static_cast<opmath_t>(x), static_cast<opmath_t>(s)));
  }
};

}  // namespace tiebreak::ops
