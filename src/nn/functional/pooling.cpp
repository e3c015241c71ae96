#include "tiebreak/nn/functional/pooling.h"

#include "tiebreak/ops/max_pool2d.h"

namespace tiebreak::nn::functional {

at::Tensor max_pool2d(const at::Tensor& input, const MaxPool2dOptions& options, TieCounter* counter) {
  if (counter == nullptr || !counter->enabled()) {
    return ops::max_pool2d(input, *options.kernel_size(), *options.stride(), *options.padding(),
                           *options.dilation(), options.ceil_mode(), options.beta(), options.formulation());
  }
  auto [output, ties] = ops::max_pool2d_with_ties(input, *options.kernel_size(), *options.stride(),
                                                  *options.padding(), *options.dilation(),
                                                  options.ceil_mode(), options.beta(), options.formulation());
  counter->add_pool_call(ties);
  return output;
}

}  // namespace tiebreak::nn::functional
