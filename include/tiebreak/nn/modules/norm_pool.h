#pragma once

#include "tiebreak/nn/options/pooling.h"

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <ostream>

namespace tiebreak::nn {

/// NormPool (L2 pooling): sqrt(Σ x²) per window; every element of an all-zero
/// window receives `grad_at_zero`·g in the backward pass.
///
/// Example:
/// ```
/// NormPool2d pool(NormPool2dOptions(2).grad_at_zero(1.0));
/// auto y = pool(x);  // (N, C, H/2, W/2)
/// ```
class NormPool2dImpl : public torch::nn::Cloneable<NormPool2dImpl> {
 public:
  NormPool2dImpl(torch::ExpandingArray<2> kernel_size) : NormPool2dImpl(NormPool2dOptions(kernel_size)) {}
  explicit NormPool2dImpl(const NormPool2dOptions& options_);

  void reset() override;
  /// Prints `tiebreak::nn::NormPool2d(kernel_size=[2, 2], stride=[2, 2], grad_at_zero=0)`
  /// (with `padding=[p, q]` before grad_at_zero when it is not zero).
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& input);

  NormPool2dOptions options;
};

/// Module holder for NormPool2dImpl (see TORCH_MODULE).
TORCH_MODULE(NormPool2d);

}  // namespace tiebreak::nn
