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

/// A dense block: `num_layers` layers (norm1, relu1, conv1 1×1, norm2, relu2, conv2 3×3), each fed the
/// concatenation of the block input and all previous layers' outputs (torchvision's _DenseBlock).
///
/// Example:
/// ```
/// DenseBlock block(6, 64, /*growth_rate=*/32, /*bn_size=*/4, ModelOptions().batch_norm(true));
/// auto y = block(torch::zeros({1, 64, 8, 8}));  // [1, 64 + 6·32, 8, 8]
/// ```
class DenseBlockImpl : public torch::nn::Cloneable<DenseBlockImpl> {
 public:
  DenseBlockImpl(int64_t num_layers, int64_t in_channels, int64_t growth_rate, int64_t bn_size,
                 ModelOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x);

  int64_t num_layers, in_channels, growth_rate, bn_size;
  ModelOptions options;
  /// denselayer1 … denselayerN, each a Sequential.
  std::vector<torch::nn::Sequential> layers;
};
TORCH_MODULE(DenseBlock);

/// A transition between dense blocks (torchvision's _Transition): norm, relu, conv 1×1 (in → out channels),
/// 2×2/2 average pooling.
///
/// Example:
/// ```
/// DenseTransition transition(256, 128, ModelOptions().batch_norm(true));
/// auto y = transition(torch::zeros({1, 256, 8, 8}));  // [1, 128, 4, 4]
/// ```
class DenseTransitionImpl : public torch::nn::Cloneable<DenseTransitionImpl> {
 public:
  DenseTransitionImpl(int64_t in_channels, int64_t out_channels, ModelOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(torch::Tensor x);

  int64_t in_channels, out_channels;
  ModelOptions options;
  torch::nn::AnyModule norm, relu;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::AvgPool2d pool{nullptr};
};
TORCH_MODULE(DenseTransition);

/// DenseNet-121 in the torchvision layout (features.conv0/norm0/relu0/pool0, denseblock1–4 with 6, 12, 24, 16
/// layers, growth rate 32, transitions with 2×2 average pooling, norm5, then ReLU, global average pooling
/// and the classifier). The stem is `options.stem()` as for ResNet, with the stem MaxPool (pool0) geometry
/// from `options.stem_pool_*()`. The stem MaxPool and every ReLU come from the options' `Nonsmooth` (the
/// final ReLU is the module features.relu5); `batch_norm == false` replaces every norm by Identity. 7,978,856
/// parameters with the ImageNet stem, BN and 1000 classes (torchvision's densenet121()).
///
/// With `variant(ModelVariant::Study)` it is the study's build (which needs the ImageNet stem, the study's
/// only one): dense layers and transitions hold Identity norms and the plain torch::nn::ReLU, so BatchNorm
/// (with `batch_norm`) is only at norm0 and norm5 and only relu0 and relu5 carry the policy's α. With the
/// study's init (`InitScheme::TorchvisionDenseNet`), a 2×2/2 β-MaxPool at pool0 even on 32×32 input, and
/// 10 classes: 6,880,458 parameters without BN, 6,882,634 with.
///
/// Example:
/// ```
/// DenseNet net(ModelOptions("densenet121").batch_norm(true));
/// auto logits = net(torch::zeros({1, 3, 32, 32}));  // [1, 10]
/// ```
class DenseNetImpl : public torch::nn::Cloneable<DenseNetImpl> {
 public:
  explicit DenseNetImpl(ModelOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// [N, in_channels, H, W] → logits [N, num_classes].
  torch::Tensor forward(torch::Tensor x);

  static constexpr int64_t growth_rate = 32;
  static constexpr int64_t bn_size = 4;
  static constexpr int64_t init_features = 64;

  ModelOptions options;
  torch::nn::Sequential features{nullptr};
  torch::nn::Linear classifier{nullptr};
};
TORCH_MODULE(DenseNet);

}  // namespace tiebreak::models
