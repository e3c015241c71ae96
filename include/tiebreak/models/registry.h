#pragma once

#include "tiebreak/models/options.h"

#include <torch/nn/modules/container/any.h>

#include <functional>
#include <string>
#include <vector>

namespace tiebreak::models {

/// Builds a network from its options (`options.name()` is already set to the registered name).
using ModelFactory = std::function<torch::nn::AnyModule(const ModelOptions&)>;

/// Builds the network named `options.name()`: lenet5, vgg11, vgg13, vgg16, vgg19, resnet18, resnet34,
/// resnet50, densenet121, or anything added with `register_model`. The result's `forward<torch::Tensor>(x)`
/// maps images to logits; `ptr()` is the torch::nn::Module (parameters, to(), train(), serialization).
/// An unknown name is an error that lists the known names.
///
/// Example:
/// ```
/// auto model = make_model(ModelOptions("resnet18").nonsmooth(nn::Nonsmooth().beta(1)).batch_norm(true));
/// auto logits = model.forward(torch::zeros({2, 3, 32, 32}));
/// torch::optim::SGD sgd(model.ptr()->parameters(), 0.1);
/// ```
torch::nn::AnyModule make_model(const ModelOptions& options);
/// `make_model(options.name(name))`.
torch::nn::AnyModule make_model(const std::string& name, ModelOptions options);

/// The registered names, sorted.
std::vector<std::string> model_names();

/// Adds a model to the registry; registering a taken name is an error.
void register_model(const std::string& name, ModelFactory factory);

}  // namespace tiebreak::models
