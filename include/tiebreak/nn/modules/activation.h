#pragma once

#include "tiebreak/nn/options/activation.h"
#include "tiebreak/nn/tie_counter.h"

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <ostream>

namespace tiebreak::nn {

/// ReLU whose derivative at 0 is `options.alpha()`: forward max(x, 0), exactly
/// native ReLU; backward g for x > 0, 0 for x < 0, α·g at x = ±0. Its
/// `counter()` counts the exact zeros it sees when enabled; every clone gets a
/// fresh counter.
///
/// Example:
/// ```
/// ReLU relu(ReLUOptions().alpha(1.0));
/// relu->counter()->set_counting(TieCounting::Count);
/// auto y = relu(x);
/// auto zeros = relu->counter()->stats().ties;
/// ```
class ReLUImpl : public torch::nn::Cloneable<ReLUImpl> {
 public:
  explicit ReLUImpl(const ReLUOptions& options_ = {});

  void reset() override;
  /// Prints `tiebreak::nn::ReLU(alpha=0)`.
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& input);

  const std::shared_ptr<TieCounter>& counter() const { return counter_; }

  ReLUOptions options;

 private:
  std::shared_ptr<TieCounter> counter_;
};

/// Module holder for ReLUImpl (see TORCH_MODULE).
TORCH_MODULE(ReLU);

}  // namespace tiebreak::nn
