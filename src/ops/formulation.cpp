#include "tiebreak/ops/formulation.h"

#include <c10/util/Exception.h>

namespace tiebreak::ops {

PoolFormulation parse_pool_formulation(std::string_view name) {
  if (name == "pure") return PoolFormulation::Pure;
  if (name == "mixture") return PoolFormulation::Mixture;
  TORCH_CHECK(false, "max_pool2d: formulation must be \"pure\" or \"mixture\", got \"", std::string(name),
              "\"");
}

std::string to_string(PoolFormulation formulation) {
  return formulation == PoolFormulation::Pure ? "pure" : "mixture";
}

}  // namespace tiebreak::ops
