#include "models/layers.h"

#include "tiebreak/nn/modules/batch_norm.h"

#include <c10/util/Exception.h>
#include <torch/nn/modules/linear.h>

namespace tiebreak::models::detail {

torch::nn::AnyModule batch_norm(int64_t features) { return torch::nn::AnyModule(nn::BatchNorm(features)); }

torch::nn::AnyModule norm2d(const ModelOptions& options, int64_t channels) {
  if (options.batch_norm()) return batch_norm(channels);
  return torch::nn::AnyModule(torch::nn::Identity());
}

torch::nn::Conv2d conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                         bool bias) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias));
}

void check_options(const ModelOptions& options, const std::string& model) {
  TORCH_CHECK(options.in_channels() > 0, "model \"", model, "\": expected in_channels > 0, got ",
              options.in_channels());
  TORCH_CHECK(options.num_classes() > 0, "model \"", model, "\": expected num_classes > 0, got ",
              options.num_classes());
  TORCH_CHECK(options.image_size() > 0, "model \"", model, "\": expected image_size > 0, got ",
              options.image_size());
}

void check_no_stem(const ModelOptions& options, const std::string& model) {
  TORCH_CHECK(options.stem() == Stem::Cifar, "model \"", model,
              "\": has no stem to choose, expected stem \"cifar\" (the default), got \"",
              to_string(options.stem()), "\" (stems apply to resnet* and densenet121)");
}

void check_input(const torch::Tensor& x, const ModelOptions& options, bool fixed_size,
                 const std::string& model) {
  const bool shape_ok =
      x.dim() == 4 && x.size(1) == options.in_channels() &&
      (!fixed_size || (x.size(2) == options.image_size() && x.size(3) == options.image_size()));
  if (shape_ok) return;
  if (fixed_size) {
    TORCH_CHECK(false, model, ": expected input of shape [N, ", options.in_channels(), ", ",
                options.image_size(), ", ", options.image_size(), "], got ", x.sizes());
  }
  TORCH_CHECK(false, model, ": expected input of shape [N, ", options.in_channels(), ", H, W], got ",
              x.sizes());
}

int64_t stem_output_size(const ModelOptions& options, int64_t size) {
  if (options.stem() == Stem::ImageNet) size = (size + 2 * 3 - 7) / 2 + 1;
  if (size <= 0) return 0;
  return (size + 2 * options.stem_pool_padding() - options.stem_pool_kernel()) / options.stem_pool_stride() +
         1;
}

torch::nn::AnyModule register_any(torch::nn::Module& parent, const std::string& name,
                                  torch::nn::AnyModule any) {
  parent.register_module(name, any.ptr());
  return any;
}

}  // namespace tiebreak::models::detail
