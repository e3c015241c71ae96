#pragma once

#include "tiebreak/models/options.h"

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/pimpl.h>

namespace tiebreak::models {

/// The two-convolution residual block of ResNet-18/34 (torchvision layout), with one ReLU module per use
/// (relu1 inside, relu2 after the addition) so each has its own tie counter. Norms are BatchNorm2d or, with
/// `batch_norm == false`, Identity.
///
/// Example:
/// ```
/// BasicBlock block(64, 128, /*stride=*/2, ModelOptions().batch_norm(true));
/// auto y = block(torch::zeros({1, 64, 8, 8}));  // [1, 128, 4, 4]
/// ```
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride, ModelOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x);

  int64_t in_planes, planes, stride;
  ModelOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::AnyModule bn1, bn2, relu1, relu2;
  /// conv 1×1 + norm when the shape changes, empty otherwise.
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

/// The 1×1–3×3–1×1 bottleneck block of ResNet-50 (torchvision v1.5 layout: stride on the 3×3 convolution),
/// with ReLU modules relu1, relu2, relu3 (the last after the addition).
///
/// Example:
/// ```
/// Bottleneck block(256, 64, /*stride=*/1, ModelOptions().batch_norm(true));
/// auto y = block(torch::zeros({1, 256, 8, 8}));  // [1, 256, 8, 8]
/// ```
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  static constexpr int64_t expansion = 4;
  BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride, ModelOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x);

  int64_t in_planes, planes, stride;
  ModelOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::AnyModule bn1, bn2, bn3, relu1, relu2, relu3;
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

/// ResNet-18, -34 or -50 in the torchvision layout (conv1, bn1, relu, maxpool, layer1–4, avgpool, fc) with
/// the stem chosen by `options.stem()` and the stem MaxPool's geometry by `options.stem_pool_*()`.
/// `batch_norm == false` replaces every norm by Identity (convolutions stay bias-free). Every ReLU (in the
/// stem and in the blocks) and the stem MaxPool come from the options' `Nonsmooth`. Parameters: ResNet-18,
/// CIFAR stem, no BN, 10 classes: 11,164,362; ResNet-50, ImageNet stem, BN, 1000 classes: 25,557,032
/// (torchvision's resnet50()).
///
/// Example:
/// ```
/// ResNet net(18, ModelOptions("resnet18").batch_norm(true).stem(Stem::Cifar));
/// auto logits = net(torch::zeros({2, 3, 32, 32}));  // [2, 10]
/// ```
class ResNetImpl : public torch::nn::Cloneable<ResNetImpl> {
 public:
  ResNetImpl(int64_t depth, ModelOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// [N, in_channels, H, W] → logits [N, num_classes]; any H, W the stem and four stages leave ≥ 1.
  torch::Tensor forward(torch::Tensor x);

  int64_t depth;
  ModelOptions options;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::AnyModule bn1, relu, maxpool;
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace tiebreak::models
