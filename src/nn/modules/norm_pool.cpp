#include "tiebreak/nn/modules/norm_pool.h"

#include "tiebreak/nn/functional/norm_pool.h"
#include "tiebreak/ops/norm_pool2d.h"

namespace tiebreak::nn {

NormPool2dImpl::NormPool2dImpl(const NormPool2dOptions& options_) : options(options_) { reset(); }

void NormPool2dImpl::reset() {
  ops::check_norm_pool2d_arguments(*options.kernel_size(), *options.stride(), *options.padding(),
                                   options.grad_at_zero());
}

void NormPool2dImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::nn::NormPool2d(kernel_size=" << options.kernel_size()
         << ", stride=" << options.stride();
  if ((*options.padding())[0] != 0 || (*options.padding())[1] != 0)
    stream << ", padding=" << options.padding();
  stream << ", grad_at_zero=" << options.grad_at_zero() << ")";
}

torch::Tensor NormPool2dImpl::forward(const torch::Tensor& input) {
  return functional::norm_pool2d(input, options);
}

}  // namespace tiebreak::nn
