#pragma once

// The names of ops::PoolFormulation, apart from formulation.h so that the kernels (CUDA ones included),
// which include formulation.h, do not depend on the name facility.

#include "tiebreak/core/enum_names.h"
#include "tiebreak/ops/formulation.h"

#include <array>

namespace tiebreak::ops {

/// "pure", "mixture": the names of `nonsmooth.formulation` and of the operator schema's `formulation`.
constexpr std::array<core::EnumName<PoolFormulation>, 2> enum_names(PoolFormulation) {
  return {{{PoolFormulation::Pure, "pure"}, {PoolFormulation::Mixture, "mixture"}}};
}

}  // namespace tiebreak::ops
