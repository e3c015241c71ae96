#include "tiebreak/nn/modules/pooling.h"

#include "tiebreak/nn/functional/pooling.h"
#include "tiebreak/ops/max_pool2d.h"

#include <array>

namespace tiebreak::nn {

MaxPool2dImpl::MaxPool2dImpl(const MaxPool2dOptions& options_) : options(options_) { reset(); }

void MaxPool2dImpl::reset() {
  ops::check_max_pool2d_arguments(*options.kernel_size(), *options.stride(), *options.padding(),
                                  *options.dilation(), options.beta());
  const auto counting = counter_ ? counter_->counting() : TieCounting::Off;
  counter_ = std::make_shared<TieCounter>();
  counter_->set_counting(counting);
}

void MaxPool2dImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::nn::MaxPool2d(kernel_size=" << options.kernel_size()
         << ", stride=" << options.stride();
  if (*options.padding() != std::array<int64_t, 2>{0, 0}) stream << ", padding=" << options.padding();
  if (*options.dilation() != std::array<int64_t, 2>{1, 1}) stream << ", dilation=" << options.dilation();
  if (options.ceil_mode()) stream << ", ceil_mode=true";
  stream << ", beta=" << options.beta() << ", formulation=" << ops::to_string(options.formulation()) << ")";
}

torch::Tensor MaxPool2dImpl::forward(const torch::Tensor& input) {
  return functional::max_pool2d(input, options, counter_.get());
}

}  // namespace tiebreak::nn
