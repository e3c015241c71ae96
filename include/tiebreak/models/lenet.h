#pragma once

#include "tiebreak/models/options.h"

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

namespace tiebreak::models {

/// LeNet-5 as in the study: Conv(C→6, 5) → ReLU → MaxPool 2×2/2 → [BN2d(6)] → Conv(6→16, 5) → ReLU →
/// MaxPool 2×2/2 → [BN2d(16)] → Linear(16·s·s, 120) → ReLU → [BN1d] → Linear(120, 84) → ReLU → [BN1d] →
/// Linear(84, classes), where s is what the convolutions and pools leave of `image_size` (4 for 28×28).
/// Bracketed layers exist only with `batch_norm`. Every ReLU and MaxPool comes from the options' `Nonsmooth`.
/// 44,426 parameters for 1×28×28 inputs and 10 classes without BN.
///
/// Example:
/// ```
/// LeNet5 net(ModelOptions("lenet5").in_channels(1).image_size(28));
/// auto logits = net(torch::zeros({8, 1, 28, 28}));  // [8, 10]
/// ```
class LeNet5Impl : public torch::nn::Cloneable<LeNet5Impl> {
 public:
  explicit LeNet5Impl(ModelOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// [N, in_channels, image_size, image_size] → logits [N, num_classes].
  torch::Tensor forward(torch::Tensor x);

  ModelOptions options;
  /// conv1, relu1, pool1, [bn1], conv2, relu2, pool2, [bn2].
  torch::nn::Sequential features{nullptr};
  /// fc1, relu3, [bn3], fc2, relu4, [bn4], fc3.
  torch::nn::Sequential classifier{nullptr};
};
TORCH_MODULE(LeNet5);

}  // namespace tiebreak::models
