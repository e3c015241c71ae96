#pragma once

#include "tiebreak/core/enum_names.h"

#include <array>
#include <string>

namespace tiebreak::zones {

/// The discrepancy D a zone probe compares with its threshold, over the K parameter tensors' gradient
/// differences Δ∇_k between two Jacobian choices.
///
/// - `Linf`: D∞ = Σ_k ‖Δ∇_k‖_∞, the study's zone volume measure.
/// - `L1`: D₁ = Σ_k ‖Δ∇_k‖_1.
enum class DiscrepancyNorm { Linf, L1 };

/// "linf", "l1": the names of `train.zone_probe.norm`.
constexpr std::array<core::EnumName<DiscrepancyNorm>, 2> enum_names(DiscrepancyNorm) {
  return {{{DiscrepancyNorm::Linf, "linf"}, {DiscrepancyNorm::L1, "l1"}}};
}
inline std::string to_string(DiscrepancyNorm norm) { return core::enum_name(norm); }

}  // namespace tiebreak::zones
