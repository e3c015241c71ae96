#include "tiebreak/nn/functional/activation.h"

#include "tiebreak/ops/relu.h"

namespace tiebreak::nn::functional {

at::Tensor relu(const at::Tensor& input, const ReLUOptions& options, TieCounter* counter) {
  if (counter != nullptr && counter->enabled()) counter->add_relu_call(input.detach());
  return ops::relu(input, options.alpha());
}

}  // namespace tiebreak::nn::functional
