#include "tiebreak/nn/functional/norm_pool.h"

#include "tiebreak/ops/norm_pool2d.h"

namespace tiebreak::nn::functional {

at::Tensor norm_pool2d(const at::Tensor& input, const NormPool2dOptions& options) {
  return ops::norm_pool2d(input, *options.kernel_size(), *options.stride(), *options.padding(),
                          options.grad_at_zero());
}

}  // namespace tiebreak::nn::functional
