#include "tiebreak/nn/modules/activation.h"

#include "tiebreak/nn/functional/activation.h"
#include "tiebreak/ops/relu.h"

namespace tiebreak::nn {

ReLUImpl::ReLUImpl(const ReLUOptions& options_) : options(options_) { reset(); }

void ReLUImpl::reset() {
  ops::check_relu_alpha(options.alpha());
  // Cloneable::clone() copies the object and then calls reset(): a fresh
  // counter here keeps clones from sharing (and racing on) one.
  counter_ = std::make_shared<TieCounter>();
}

void ReLUImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::nn::ReLU(alpha=" << options.alpha() << ")";
}

torch::Tensor ReLUImpl::forward(const torch::Tensor& input) {
  return functional::relu(input, options, counter_.get());
}

}  // namespace tiebreak::nn
