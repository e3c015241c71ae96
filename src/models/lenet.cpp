#include "tiebreak/models/lenet.h"

#include "models/layers.h"
#include "tiebreak/models/init.h"

#include <torch/nn/modules/linear.h>

namespace tiebreak::models {

LeNet5Impl::LeNet5Impl(ModelOptions options_) : options(std::move(options_)) { reset(); }

void LeNet5Impl::reset() {
  detail::check_options(options, "lenet5");
  detail::check_no_stem(options, "lenet5");
  // Valid 5×5 convolutions and 2×2/2 pools: s → (s − 4) / 2 → ((s − 4) / 2 − 4) / 2.
  const int64_t side = ((options.image_size() - 4) / 2 - 4) / 2;
  TORCH_CHECK(options.image_size() >= 16 && side > 0, "model \"lenet5\": expected image_size >= 16, got ",
              options.image_size());
  const auto& policy = options.nonsmooth();
  const bool bn = options.batch_norm();

  GlobalRngGuard rng;  // layer constructors draw from the global RNG; initialize() redraws from the seed
  features = torch::nn::Sequential();
  features->push_back("conv1", detail::conv2d(options.in_channels(), 6, 5, 1, 0, true));
  features->push_back("relu1", policy.make_relu());
  features->push_back("pool1", policy.make_pool(2, 2));
  if (bn) features->push_back("bn1", detail::batch_norm(6));
  features->push_back("conv2", detail::conv2d(6, 16, 5, 1, 0, true));
  features->push_back("relu2", policy.make_relu());
  features->push_back("pool2", policy.make_pool(2, 2));
  if (bn) features->push_back("bn2", detail::batch_norm(16));
  register_module("features", features);

  classifier = torch::nn::Sequential();
  classifier->push_back("fc1", torch::nn::Linear(16 * side * side, 120));
  classifier->push_back("relu3", policy.make_relu());
  if (bn) classifier->push_back("bn3", detail::batch_norm(120));
  classifier->push_back("fc2", torch::nn::Linear(120, 84));
  classifier->push_back("relu4", policy.make_relu());
  if (bn) classifier->push_back("bn4", detail::batch_norm(84));
  classifier->push_back("fc3", torch::nn::Linear(84, options.num_classes()));
  register_module("classifier", classifier);

  initialize(*this, options.init(), options.seed());
}

torch::Tensor LeNet5Impl::forward(torch::Tensor x) {
  detail::check_input(x, options, /*fixed_size=*/true, "lenet5");
  return classifier->forward(features->forward(x).flatten(1));
}

void LeNet5Impl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::models::LeNet5(in_channels=" << options.in_channels()
         << ", image_size=" << options.image_size() << ", num_classes=" << options.num_classes()
         << ", batch_norm=" << (options.batch_norm() ? "true" : "false")
         << ", nonsmooth=" << options.nonsmooth().describe() << ")";
}

}  // namespace tiebreak::models
