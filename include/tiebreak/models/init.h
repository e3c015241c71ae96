#pragma once

#include "tiebreak/models/options.h"

#include <torch/nn/module.h>

#include <cstdint>

namespace tiebreak::models {

/// Sets every parameter of `model`'s submodules (not of `model` itself) by `scheme`, drawing from a private
/// generator seeded with `seed`: the global RNG is neither read nor advanced. Modules are visited in
/// registration order, so `PytorchDefault` with seed s gives the weights that `torch::manual_seed(s)`
/// followed by constructing the same layers would give. BatchNorm running statistics are reset.
///
/// Knows Conv2d, Linear, tiebreak::nn::BatchNorm and torch::nn::BatchNorm1d/2d; any other submodule that owns
/// parameters is an error, so no parameter is ever left unseeded.
///
/// Example:
/// ```
/// auto net = std::make_shared<torch::nn::SequentialImpl>(torch::nn::Linear(4, 2));
/// initialize(*net, InitScheme::Kaiming, /*seed=*/3);
/// ```
void initialize(torch::nn::Module& model, InitScheme scheme, uint64_t seed);

/// Saves the global CPU generator's state and restores it when destroyed, so that building modules (whose
/// constructors draw from the global RNG) leaves the global random stream where it was.
///
/// Example:
/// ```
/// { GlobalRngGuard guard; torch::nn::Linear layer(4, 2); }  // torch::rand() unaffected by the build
/// ```
class GlobalRngGuard {
 public:
  GlobalRngGuard();
  ~GlobalRngGuard();
  GlobalRngGuard(const GlobalRngGuard&) = delete;
  GlobalRngGuard& operator=(const GlobalRngGuard&) = delete;

 private:
  at::Tensor state_;
};

}  // namespace tiebreak::models
