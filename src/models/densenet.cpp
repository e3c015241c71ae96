#include "tiebreak/models/densenet.h"

#include "models/layers.h"
#include "tiebreak/models/init.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <array>

namespace tiebreak::models {
namespace {

constexpr std::array<int64_t, 4> kDenseNet121Blocks = {6, 12, 24, 16};

// Inside dense blocks and transitions the study's build has no normalization and the plain ReLU (its
// _DenseBlock and _Transition ignore the norm_layer and relu_fn they are given).
torch::nn::AnyModule inner_norm(const ModelOptions& options, int64_t channels) {
  if (options.variant() == ModelVariant::Study) return torch::nn::AnyModule(torch::nn::Identity());
  return detail::norm2d(options, channels);
}

torch::nn::AnyModule inner_relu(const ModelOptions& options) {
  if (options.variant() == ModelVariant::Study) return torch::nn::AnyModule(torch::nn::ReLU());
  return options.nonsmooth().make_relu();
}

// torchvision's _DenseLayer: norm1, relu1, conv1 (1×1, bn_size·growth), norm2, relu2, conv2 (3×3, growth).
torch::nn::Sequential make_dense_layer(int64_t in_channels, int64_t growth_rate, int64_t bn_size,
                                       const ModelOptions& options) {
  torch::nn::Sequential layer;
  layer->push_back("norm1", inner_norm(options, in_channels));
  layer->push_back("relu1", inner_relu(options));
  layer->push_back("conv1", detail::conv2d(in_channels, bn_size * growth_rate, 1, 1, 0, false));
  layer->push_back("norm2", inner_norm(options, bn_size * growth_rate));
  layer->push_back("relu2", inner_relu(options));
  layer->push_back("conv2", detail::conv2d(bn_size * growth_rate, growth_rate, 3, 1, 1, false));
  return layer;
}

}  // namespace

DenseBlockImpl::DenseBlockImpl(int64_t num_layers_, int64_t in_channels_, int64_t growth_rate_,
                               int64_t bn_size_, ModelOptions options_)
    : num_layers(num_layers_),
      in_channels(in_channels_),
      growth_rate(growth_rate_),
      bn_size(bn_size_),
      options(std::move(options_)) {
  reset();
}

void DenseBlockImpl::reset() {
  layers.clear();
  for (int64_t i = 0; i < num_layers; ++i) {
    layers.push_back(
        register_module("denselayer" + std::to_string(i + 1),
                        make_dense_layer(in_channels + i * growth_rate, growth_rate, bn_size, options)));
  }
}

torch::Tensor DenseBlockImpl::forward(torch::Tensor x) {
  std::vector<torch::Tensor> features{std::move(x)};
  features.reserve(layers.size() + 1);
  for (auto& layer : layers) {
    features.push_back(layer->forward(features.size() == 1 ? features[0] : torch::cat(features, 1)));
  }
  return torch::cat(features, 1);
}

void DenseBlockImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::models::DenseBlock(num_layers=" << num_layers << ", in_channels=" << in_channels
         << ", growth_rate=" << growth_rate << ", bn_size=" << bn_size << ")";
}

DenseTransitionImpl::DenseTransitionImpl(int64_t in_channels_, int64_t out_channels_, ModelOptions options_)
    : in_channels(in_channels_), out_channels(out_channels_), options(std::move(options_)) {
  reset();
}

void DenseTransitionImpl::reset() {
  norm = detail::register_any(*this, "norm", inner_norm(options, in_channels));
  relu = detail::register_any(*this, "relu", inner_relu(options));
  conv = register_module("conv", detail::conv2d(in_channels, out_channels, 1, 1, 0, false));
  pool = register_module("pool", torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2)));
}

torch::Tensor DenseTransitionImpl::forward(torch::Tensor x) {
  return pool->forward(conv->forward(relu.forward(norm.forward(x))));
}

void DenseTransitionImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::models::DenseTransition(in_channels=" << in_channels
         << ", out_channels=" << out_channels << ")";
}

DenseNetImpl::DenseNetImpl(ModelOptions options_) : options(std::move(options_)) { reset(); }

void DenseNetImpl::reset() {
  detail::check_options(options, "densenet121");
  // Three 2×2/2 average-pooling transitions follow the stem.
  TORCH_CHECK(detail::stem_output_size(options, options.image_size()) >= 8,
              "model \"densenet121\": image_size ", options.image_size(), " leaves less than 8×8 after the ",
              to_string(options.stem()), " stem, expected at least 8×8 before the three transitions");
  TORCH_CHECK(options.variant() == ModelVariant::Torchvision || options.stem() == Stem::ImageNet,
              "model \"densenet121\" variant \"study\": the study built its 7×7/2 stem conv on every input, "
              "expected stem \"imagenet\", got \"",
              to_string(options.stem()), "\"");
  const auto& policy = options.nonsmooth();

  GlobalRngGuard rng;  // layer constructors draw from the global RNG; initialize() redraws from the seed
  features = torch::nn::Sequential();
  if (options.stem() == Stem::Cifar) {
    features->push_back("conv0", detail::conv2d(options.in_channels(), init_features, 3, 1, 1, false));
  } else {
    features->push_back("conv0", detail::conv2d(options.in_channels(), init_features, 7, 2, 3, false));
  }
  features->push_back("norm0", detail::norm2d(options, init_features));
  features->push_back("relu0", policy.make_relu());
  features->push_back("pool0", policy.make_pool(options.stem_pool_kernel(), options.stem_pool_stride(),
                                                options.stem_pool_padding()));
  int64_t channels = init_features;
  for (size_t i = 0; i < kDenseNet121Blocks.size(); ++i) {
    const auto n = std::to_string(i + 1);
    features->push_back("denseblock" + n,
                        DenseBlock(kDenseNet121Blocks[i], channels, growth_rate, bn_size, options));
    channels += kDenseNet121Blocks[i] * growth_rate;
    if (i + 1 < kDenseNet121Blocks.size()) {
      features->push_back("transition" + n, DenseTransition(channels, channels / 2, options));
      channels /= 2;
    }
  }
  features->push_back("norm5", detail::norm2d(options, channels));
  features->push_back("relu5", policy.make_relu());
  register_module("features", features);
  classifier = register_module("classifier", torch::nn::Linear(channels, options.num_classes()));

  initialize(*this, options.init(), options.seed());
}

torch::Tensor DenseNetImpl::forward(torch::Tensor x) {
  detail::check_input(x, options, /*fixed_size=*/false, "densenet121");
  x = torch::adaptive_avg_pool2d(features->forward(x), {1, 1});
  return classifier->forward(x.flatten(1));
}

void DenseNetImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::models::DenseNet(depth=121, variant=" << to_string(options.variant())
         << ", stem=" << to_string(options.stem()) << ", stem_pool=" << options.stem_pool_kernel() << "/"
         << options.stem_pool_stride() << "/" << options.stem_pool_padding()
         << ", in_channels=" << options.in_channels() << ", num_classes=" << options.num_classes()
         << ", batch_norm=" << (options.batch_norm() ? "true" : "false")
         << ", nonsmooth=" << options.nonsmooth().describe() << ")";
}

}  // namespace tiebreak::models
