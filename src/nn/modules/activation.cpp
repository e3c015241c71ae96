#include "tiebreak/nn/modules/activation.h"

#include "tiebreak/nn/functional/activation.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace tiebreak::nn {

ReLUImpl::ReLUImpl(const ReLUOptions& options_) : options(options_) { reset(); }

void ReLUImpl::reset() {
  TORCH_CHECK(std::isfinite(options.alpha()), "tiebreak::nn::ReLU: expected a finite alpha (ReLU'(0)), got ",
              options.alpha());
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
