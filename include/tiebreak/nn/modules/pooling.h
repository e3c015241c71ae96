#pragma once

#include "tiebreak/nn/options/pooling.h"
#include "tiebreak/nn/tie_counter.h"

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <ostream>

namespace tiebreak::nn {

/// MaxPool2d whose backward uses J_β = β·J_min + (1−β)·J_nat (see
/// tiebreak::ops::max_pool2d). With β = 0 and the pure formulation it is
/// torch::nn::MaxPool2d. Its tie counter records, while enabled, how many
/// windows had several equal maxima; a clone gets a fresh counter.
///
/// Example:
/// ```
/// MaxPool2d pool(MaxPool2dOptions(2).beta(1000).formulation(ops::PoolFormulation::Mixture));
/// pool->counter()->set_counting(TieCounting::Count);
/// auto y = pool(x);
/// std::cout << pool->counter()->stats().tie_fraction();
/// ```
class MaxPool2dImpl : public torch::nn::Cloneable<MaxPool2dImpl> {
 public:
  MaxPool2dImpl(torch::ExpandingArray<2> kernel_size) : MaxPool2dImpl(MaxPool2dOptions(kernel_size)) {}
  explicit MaxPool2dImpl(const MaxPool2dOptions& options_);

  /// Replaces the tie counter by a fresh one (keeping its TieCounting).
  void reset() override;

  /// e.g. `tiebreak::nn::MaxPool2d(kernel_size=[2, 2], stride=[2, 2], beta=1000, formulation=mixture)`.
  void pretty_print(std::ostream& stream) const override;

  torch::Tensor forward(const torch::Tensor& input);

  std::shared_ptr<TieCounter> counter() const { return counter_; }

  MaxPool2dOptions options;

 private:
  std::shared_ptr<TieCounter> counter_;
};

/// A `ModuleHolder` for `MaxPool2dImpl`.
TORCH_MODULE(MaxPool2d);

}  // namespace tiebreak::nn
