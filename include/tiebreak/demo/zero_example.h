#pragma once
// The paper's introductory example: zero(t) = max1(t·x) − max2(t·x) is
// identically 0, yet automatic differentiation can return a nonzero zero'(t).
//
// What reproduces the paper's numbers (checked against PyTorch 2.11 in Python
// and the paper's notebook): max1 must give the whole gradient to the FIRST
// maximum (a Python `if` loop, or the where-chain here) and max2 must be the
// full reduction torch.max(y)/amax, whose derivative splits evenly among ties.
// Then zero'(t) = fl(Σ_i g_i·x_i) with g = (3/4, −1/4, −1/4, −1/4) for four equal
// x: 2^-24 in float32 for x = float32(1.14) at every t. Other formulations
// differ: max2 = torch.max(y, 0) (index-based) gives 0, max1 = a chain of
// torch.maximum (which splits ties itself) gives 0 (and −2^-24 against max(y, 0)).
// In float64 the result depends on which 1.14: the paper's x1 is float32
// (torch.ones(4) * 1.14), and its exact float64 widening has 24 significant bits,
// so 0.75·x is exact and zero'(t) = 0; 1.14 rounded to float64 gives 2^-53 (a
// compensation zone one precision further down); float16 gives −2^-12.

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <array>
#include <string>
#include <vector>

namespace tiebreak::demo {

using ZeroVector = std::array<double, 4>;

/// Why AD's zero'(t) can be wrong. The true derivative is 0 everywhere.
enum class ZeroZone {
  /// AD is right: 0.
  None,
  /// AD is wrong over the reals already: an exact tie in t·x makes max1 and
  /// max2 pick different Jacobians (e.g. t = 0).
  Bifurcation,
  /// AD over the reals gives 0; the nonzero value comes only from rounding.
  Compensation,
};

std::string to_string(ZeroZone zone);

/// max1: a first-maximum loop of torch ops, m = y[0]; m = where(y[i] > m, y[i], m).
/// Its AD derivative sends the whole gradient to the first maximum (the paper's
/// Python `if` loop has the same derivative).
at::Tensor first_max(const at::Tensor& y);

/// max2: the full max reduction at::max(y); its AD derivative splits the
/// gradient evenly among tied maxima (as torch.max(y) does).
at::Tensor reduction_max(const at::Tensor& y);

/// One evaluation of zero and its AD derivative at t.
struct ZeroPoint {
  /// t and x as the computation saw them (rounded to `dtype`, stored exactly).
  double t = 0.0;
  ZeroVector x{};
  double value = 0.0;
  /// AD's zero'(t) in `dtype`, stored exactly.
  double derivative = 0.0;
  /// What the same AD program returns over the reals at these (t, x):
  /// x[i*] − mean of x over the tied maxima of t·x, i* the first of them.
  double real_derivative = 0.0;
  ZeroZone zone = ZeroZone::None;
};

/// Evaluates zero(t) = first_max(t·x) − reduction_max(t·x) and its AD
/// derivative in `dtype` on the CPU. t and x are rounded to `dtype` first.
/// Four elements are far below ATen's parallel grain size, so every reduction
/// runs in one thread in a fixed order and the values are reproducible.
///
/// Example:
/// ```
/// auto p = evaluate_zero(paper_x_compensation(), 1.0, at::kFloat);  // p.derivative == 0x1p-24
/// ```
ZeroPoint evaluate_zero(const ZeroVector& x, double t, at::ScalarType dtype);

/// The paper's x1 = torch.ones(4) * 1.14: 1.14 rounded to float32 (widened
/// exactly when the table is float64).
ZeroVector paper_x_compensation();
/// The paper's x2 = (1, 2, 3, 4).
ZeroVector paper_x_bifurcation();
/// The paper's t values: 0, 0.1, 1, −1e−4, −6.
std::vector<double> paper_t_values();

/// Parses "a,b,c,d" (four finite decimal numbers); a TORCH_CHECK error naming
/// `--x` and the text otherwise.
ZeroVector parse_zero_vector(const std::string& text);

/// Parses "float16", "bfloat16", "float32" or "float64".
at::ScalarType parse_demo_dtype(const std::string& name);

/// A human-readable table of zero(t), zero'(t) (decimal, hex-float and power
/// of two when it is one), AD over the reals, and the zone of each point.
std::string format_zero_table(const ZeroVector& x, const std::vector<double>& ts, at::ScalarType dtype);

/// "2^-24" for ±powers of two, "" otherwise.
std::string power_of_two(double value);

}  // namespace tiebreak::demo
