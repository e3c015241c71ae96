#pragma once

#include "tiebreak/nn/tie_counter.h"

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace tiebreak::models {

/// What a nonsmooth layer computes: a pooling (MaxPool2d or NormPool2d) or a ReLU.
enum class NonsmoothKind { Pool, ReLU };

/// "pool" or "relu".
std::string to_string(NonsmoothKind kind);

/// One tiebreak MaxPool2d, NormPool2d or ReLU inside a model.
struct NonsmoothLayer {
  /// Qualified name as in named_modules(), e.g. "layer1.0.relu2" or "features.pool3"; "" for the model
  /// itself.
  std::string name;
  NonsmoothKind kind;
  /// The layer's tie counter; null for NormPool2d, which has none.
  std::shared_ptr<nn::TieCounter> counter;
  /// The layer, for its options (dynamic_cast to nn::MaxPool2dImpl, nn::NormPool2dImpl or nn::ReLUImpl);
  /// null for the entry of `model` itself, which need not be owned by a shared_ptr.
  std::shared_ptr<torch::nn::Module> module;
};

/// Every tiebreak::nn MaxPool2d, NormPool2d and ReLU in `model`, in named_modules() order. A layer module
/// that is registered under two names appears twice (its counter then sums both call sites).
///
/// Example:
/// ```
/// auto model = make_model("vgg11", ModelOptions());
/// set_tie_statistics(*model.ptr(), true);
/// model.forward(images);
/// for (const auto& layer : nonsmooth_layers(*model.ptr()))
///   if (layer.counter) std::cout << layer.name << " " << layer.counter->stats().tie_fraction() << "\n";
/// ```
std::vector<NonsmoothLayer> nonsmooth_layers(const torch::nn::Module& model);

/// Turns the tie counters of all of `model`'s nonsmooth layers on or off (counting costs a reduction per
/// call).
void set_tie_statistics(const torch::nn::Module& model, bool enabled);

/// Zeroes the tie counters of all of `model`'s nonsmooth layers.
void reset_tie_statistics(const torch::nn::Module& model);

}  // namespace tiebreak::models
