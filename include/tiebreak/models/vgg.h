#pragma once

#include "tiebreak/models/options.h"

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace tiebreak::models {

/// VGG in its CIFAR form: the standard stacks of 3×3 pad-1 convolutions with bias (each followed by [BN2d]
/// and ReLU), five MaxPools 2×2/2, then one Linear(512·s·s, classes) with s = image_size / 32 (1 for CIFAR).
/// Depth 11, 13, 16 or 19. Every ReLU and MaxPool comes from the options' `Nonsmooth`.
/// VGG11 has 9,225,610 parameters without BN and 9,231,114 with BN (3×32×32, 10 classes).
///
/// Example:
/// ```
/// VGG net(11, ModelOptions("vgg11").batch_norm(true));
/// auto logits = net(torch::zeros({2, 3, 32, 32}));  // [2, 10]
/// ```
class VGGImpl : public torch::nn::Cloneable<VGGImpl> {
 public:
  VGGImpl(int64_t depth, ModelOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// [N, in_channels, image_size, image_size] → logits [N, num_classes].
  torch::Tensor forward(torch::Tensor x);

  int64_t depth;
  ModelOptions options;
  /// conv1, [bn1], relu1, (pool1 after each stage), conv2, ... numbered in order of appearance.
  torch::nn::Sequential features{nullptr};
  torch::nn::Linear classifier{nullptr};
};
TORCH_MODULE(VGG);

}  // namespace tiebreak::models
