#include "tiebreak/ops/formulation.h"

#include "tiebreak/ops/formulation_names.h"

#include <c10/util/Exception.h>

namespace tiebreak::ops {

PoolFormulation parse_pool_formulation(std::string_view name) {
  if (auto formulation = core::enum_from_name<PoolFormulation>(name)) return *formulation;
  TORCH_CHECK(false, "max_pool2d: formulation must be \"pure\" or \"mixture\", got \"", std::string(name),
              "\"");
}

std::string to_string(PoolFormulation formulation) { return core::enum_name(formulation); }

}  // namespace tiebreak::ops
