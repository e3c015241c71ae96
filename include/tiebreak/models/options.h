#pragma once

#include "tiebreak/core/enum_names.h"
#include "tiebreak/nn/nonsmooth.h"

#include <torch/arg.h>

#include <cstdint>
#include <string>

namespace tiebreak::models {

/// The first layers of a ResNet or DenseNet, before the first residual/dense stage.
///
/// - `Cifar`: conv 3×3 stride 1 pad 1 → norm → ReLU → MaxPool, kept as in the study (torchvision-style
///   networks adapted to 32×32 inputs still pool once in the stem).
/// - `ImageNet`: conv 7×7 stride 2 pad 3 → norm → ReLU → MaxPool, the torchvision stem.
///
/// The stem MaxPool's geometry is `ModelOptions::stem_pool_{kernel,stride,padding}`: the study used 2×2/2,
/// torchvision uses 3×3/2 pad 1.
enum class Stem { Cifar, ImageNet };

/// How the weights are set once a network is built (all draws from the model's seed).
///
/// - `PytorchDefault`: what `reset_parameters()` of torch::nn::Conv2d/Linear/BatchNorm does (kaiming-uniform
///   with a = √5 for weights, U(±1/√fan_in) for biases, BN weight 1 bias 0). The study's training runs of
///   LeNet5 and VGG, and its ImageNet ResNet50 (which reset every conv and linear layer).
/// - `Kaiming`: the study's notebook `init_weights` (zone volume, zone factors, weight divergence): conv
///   weights kaiming-uniform (fan_in, ReLU gain √2) and conv biases 0; linear weights N(0, 0.01²) and biases
///   0; BN weight 1, bias 0.
/// - `TorchvisionResNet`: torchvision's ResNet constructor, which the study's CIFAR ResNet18 kept: conv
///   weights kaiming-normal (fan_out, ReLU gain √2), BN weight 1 bias 0, linear layers PyTorch's default.
/// - `TorchvisionDenseNet`: torchvision's DenseNet constructor, which the study's DenseNet121 kept: conv
///   weights kaiming-normal (fan_in, gain √2), BN weight 1 bias 0, linear weights PyTorch's default and
///   biases 0.
enum class InitScheme { PytorchDefault, Kaiming, TorchvisionResNet, TorchvisionDenseNet };

/// Which build of a named network.
///
/// - `Torchvision`: the torchvision layout (every model's default).
/// - `Study`: the network as the study's code (`models/*.py` of the MaxPool-numerical repository) built it.
///   Only densenet121 differs: the study's dense layers and transitions were built with `norm_layer=None`
///   and `relu_fn=nn.ReLU`, so they hold no normalization (Identity) and the plain ReLU; BatchNorm (with
///   `batch_norm`) sits only at norm0 and norm5, and only relu0 and the final ReLU carry the policy's α.
///   6,880,458 parameters without BN and 6,882,634 with (3 channels, 10 classes).
enum class ModelVariant { Torchvision, Study };

/// The names of `model.stem`, `model.init` and `model.variant`.
constexpr std::array<core::EnumName<Stem>, 2> enum_names(Stem) {
  return {{{Stem::Cifar, "cifar"}, {Stem::ImageNet, "imagenet"}}};
}
constexpr std::array<core::EnumName<InitScheme>, 4> enum_names(InitScheme) {
  return {{{InitScheme::PytorchDefault, "pytorch_default"},
           {InitScheme::Kaiming, "kaiming"},
           {InitScheme::TorchvisionResNet, "torchvision_resnet"},
           {InitScheme::TorchvisionDenseNet, "torchvision_densenet"}}};
}
constexpr std::array<core::EnumName<ModelVariant>, 2> enum_names(ModelVariant) {
  return {{{ModelVariant::Torchvision, "torchvision"}, {ModelVariant::Study, "study"}}};
}
inline std::string to_string(Stem stem) { return core::enum_name(stem); }
inline std::string to_string(InitScheme scheme) { return core::enum_name(scheme); }
inline std::string to_string(ModelVariant variant) { return core::enum_name(variant); }

/// Everything a model builder needs. The same struct serves every model; fields a model has no use for
/// (`stem*` for lenet5/vgg*) are ignored, except that asking lenet5/vgg* for an ImageNet stem is an error.
///
/// Example:
/// ```
/// auto opts = ModelOptions("vgg11")
///                 .nonsmooth(nn::Nonsmooth().beta(1000))
///                 .batch_norm(true)
///                 .num_classes(10)
///                 .seed(7);
/// auto model = make_model(opts);
/// ```
struct ModelOptions {
  ModelOptions() = default;
  /* implicit */ ModelOptions(std::string name) : name_(std::move(name)) {}

  /// Registry name: see `model_names()`.
  TORCH_ARG(std::string, name);
  /// The Jacobian choices carried by every pooling layer and every ReLU.
  TORCH_ARG(nn::Nonsmooth, nonsmooth);
  /// BatchNorm layers (nn::BatchNorm, which a data-parallel run may synchronize over its ranks once the
  /// model is built: convert_sync_batch_norm) on (true), or removed/replaced by Identity (false).
  TORCH_ARG(bool, batch_norm) = false;
  TORCH_ARG(int64_t, in_channels) = 3;
  /// Height = width of the (square) input images; fixes the flatten size of lenet5/vgg*.
  TORCH_ARG(int64_t, image_size) = 32;
  TORCH_ARG(int64_t, num_classes) = 10;
  /// ResNet/DenseNet stem.
  TORCH_ARG(Stem, stem) = Stem::Cifar;
  TORCH_ARG(int64_t, stem_pool_kernel) = 2;
  TORCH_ARG(int64_t, stem_pool_stride) = 2;
  TORCH_ARG(int64_t, stem_pool_padding) = 0;
  TORCH_ARG(InitScheme, init) = InitScheme::PytorchDefault;
  TORCH_ARG(ModelVariant, variant) = ModelVariant::Torchvision;
  /// Seeds the weights: the same options build bit-identical models, whatever the global RNG state.
  TORCH_ARG(uint64_t, seed) = 0;
};

}  // namespace tiebreak::models
