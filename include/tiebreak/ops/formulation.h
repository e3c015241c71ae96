#pragma once

#include <string>
#include <string_view>

namespace tiebreak::ops {

/// How the β-Jacobian of MaxPool is realised.
///
/// - `Pure`: forward is exactly native max_pool2d; backward applies
///   J_β = β·J_min + (1−β)·J_nat to the upstream gradient, accumulated in the
///   op-math type and rounded once per input element.
/// - `Mixture`: the study's implementation, β·MinNormPool(x) + (1−β)·NativePool(x)
///   evaluated as PyTorch evaluates that expression in the tensor's dtype
///   (forward and backward), rounding effects included.
enum class PoolFormulation { Pure, Mixture };

/// Parses "pure" or "mixture"; anything else is a TORCH_CHECK error naming the value.
PoolFormulation parse_pool_formulation(std::string_view name);
std::string to_string(PoolFormulation formulation);

}  // namespace tiebreak::ops
