#pragma once
// Individually rounded arithmetic for code shared by the CPU and CUDA kernels.
// On the device the intrinsics keep nvcc from fusing a·b + c into one FMA,
// which would change the bits; the CPU kernels are built with
// -ffp-contract=off (src/ops/CMakeLists.txt) for the same reason.
//
// Each operation is one line below: its host expression and its float and
// double round-to-nearest intrinsics.

#include <c10/macros/Macros.h>

#include <cmath>
#include <type_traits>

namespace tiebreak::ops {

#if defined(__CUDA_ARCH__)
#define TIEBREAK_ROUNDED_OP(name, params, host_expr, float_rn, double_rn)                     \
  template <typename T>                                                                       \
  C10_HOST_DEVICE inline T name params {                                                      \
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "float or double"); \
    if constexpr (std::is_same_v<T, float>) {                                                 \
      return float_rn;                                                                        \
    } else {                                                                                  \
      return double_rn;                                                                       \
    }                                                                                         \
  }
#else
#define TIEBREAK_ROUNDED_OP(name, params, host_expr, float_rn, double_rn) \
  template <typename T>                                                 \
  C10_HOST_DEVICE inline T name params {                                \
    return host_expr;                                                   \
  }
#endif

TIEBREAK_ROUNDED_OP(mul_rn, (T a, T b), a * b, __fmul_rn(a, b), __dmul_rn(a, b))
TIEBREAK_ROUNDED_OP(add_rn, (T a, T b), a + b, __fadd_rn(a, b), __dadd_rn(a, b))
TIEBREAK_ROUNDED_OP(div_rn, (T a, T b), a / b, __fdiv_rn(a, b), __ddiv_rn(a, b))
TIEBREAK_ROUNDED_OP(sqrt_rn, (T a), std::sqrt(a), __fsqrt_rn(a), __dsqrt_rn(a))

#undef TIEBREAK_ROUNDED_OP

}  // namespace tiebreak::ops
