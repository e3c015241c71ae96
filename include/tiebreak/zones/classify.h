#pragma once

#include "tiebreak/zones/discrepancy_norm.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tiebreak::zones {

/// How far apart two networks' gradients are, summed over parameter tensors and computed in float64:
/// `linf` = Σ_k ‖∇_k L_a − ∇_k L_b‖_∞ and `l1` = Σ_k ‖∇_k L_a − ∇_k L_b‖_1.
struct Discrepancy {
  double linf = 0;
  double l1 = 0;
};

/// The discrepancy between two lists of gradients (or weights) of the same shapes, in order. An undefined
/// gradient (a parameter the loss did not reach) counts as zeros.
///
/// Example:
/// ```
/// auto d = discrepancy(gradients(*net_a), gradients(*net_b));
/// bool in_zone = d.linf > 0;
/// ```
Discrepancy discrepancy(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b);

/// One norm of the discrepancy, bit for bit the field of `discrepancy(a, b)` it names (`Linf` → `linf`,
/// `L1` → `l1`), at less cost: tensors equal on both sides are skipped, and D∞ of 16- and 32-bit
/// gradients is taken in their own dtype and only its largest differences are recomputed in float64
/// (rounding is monotonic, so the maximum is among them). What the zone probe computes at each probe.
///
/// Example:
/// ```
/// double d_inf = discrepancy(gradients(*net_a), gradients(*net_b), DiscrepancyNorm::Linf);
/// ```
double discrepancy(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, DiscrepancyNorm norm);

/// Where the ties of a low-precision forward pass lie relative to the same pass in a higher precision
/// (counted over the tie masks of the layers whose Jacobian choice differs between the two networks).
struct TieComparison {
  /// Ties of the low-precision pass.
  int64_t low = 0;
  /// Ties of the high-precision pass.
  int64_t high = 0;
  /// Ties present in both: real ties, where the Jacobian choice changes the gradient over the reals.
  int64_t surviving = 0;
  /// Ties of the low-precision pass only: created by rounding.
  int64_t created_by_rounding = 0;
  /// Ties of the high-precision pass only: broken by rounding.
  int64_t broken_by_rounding = 0;

  TieComparison& operator+=(const TieComparison& other);
};

/// Compares per-call tie masks (bool tensors, see nn::TieCounting::Record) of the same layers and
/// calls in two precisions; the lists must match in length and shapes.
TieComparison compare_tie_masks(const std::vector<at::Tensor>& low, const std::vector<at::Tensor>& high);

/// Which zone a mini-batch lies in.
/// - `None`: the two gradients agree exactly (D = 0).
/// - `Bifurcation`: D > 0 and a tie survives in the higher precision: AD is wrong over the reals.
/// - `Compensation`: D > 0 and no tie survives (all ties were rounding artefacts, or there were none):
///   AD is right over the reals and the difference is rounding.
/// - `Unresolved`: D > 0 in a precision with no higher one to compare with (fp64).
enum class Zone { None, Bifurcation, Compensation, Unresolved };

/// "none", "bifurcation", "compensation", "unresolved".
std::string to_string(Zone zone);

/// The zone of a mini-batch with gradient discrepancy `discrepancy`; `ties` is null when the precision
/// cannot be resolved.
Zone classify(double discrepancy, const TieComparison* ties);

}  // namespace tiebreak::zones
