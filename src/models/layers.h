#pragma once

// Building blocks shared by the model builders (private to src/models).

#include "tiebreak/models/options.h"

#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>

#include <string>

namespace tiebreak::models::detail {

/// nn::BatchNorm(channels) with options.batch_norm(), Identity without.
torch::nn::AnyModule norm2d(const ModelOptions& options, int64_t channels);

/// nn::BatchNorm(features), the one BatchNorm of every model (on [N, C] and [N, C, H, W] alike), which a
/// data-parallel run synchronizes (convert_sync_batch_norm) once the model is built.
torch::nn::AnyModule batch_norm(int64_t features);

torch::nn::Conv2d conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias);

/// The options every model needs in range; `model` names the model in the message.
void check_options(const ModelOptions& options, const std::string& model);

/// lenet5 and vgg* have no stem: an explicit ImageNet stem is a configuration mistake.
void check_no_stem(const ModelOptions& options, const std::string& model);

/// x must be [N, in_channels, H, W], with H = W = image_size when `fixed_size`.
void check_input(const torch::Tensor& x, const ModelOptions& options, bool fixed_size,
                 const std::string& model);

/// The spatial size after the ResNet/DenseNet stem (conv, then the stem MaxPool).
int64_t stem_output_size(const ModelOptions& options, int64_t size);

/// Registers `any` under `name` in `parent` and returns it, for AnyModule members.
torch::nn::AnyModule register_any(torch::nn::Module& parent, const std::string& name,
                                  torch::nn::AnyModule any);

}  // namespace tiebreak::models::detail
