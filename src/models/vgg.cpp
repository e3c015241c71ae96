#include "tiebreak/models/vgg.h"

#include "models/layers.h"
#include "tiebreak/models/init.h"

#include <vector>

namespace tiebreak::models {
namespace {

constexpr int64_t kPool = 0;

// The standard VGG stacks: output widths, kPool for a 2×2/2 MaxPool.
std::vector<int64_t> vgg_layers(int64_t depth) {
  switch (depth) {
    case 11:
      return {64, kPool, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool};
    case 13:
      return {64, 64, kPool, 128, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool};
    case 16:
      return {64,    64,  kPool, 128, 128,   kPool, 256, 256, 256,
              kPool, 512, 512,   512, kPool, 512,   512, 512, kPool};
    case 19:
      return {64,  64,  kPool, 128, 128,   kPool, 256, 256, 256, 256,  kPool,
              512, 512, 512,   512, kPool, 512,   512, 512, 512, kPool};
    default:
      TORCH_CHECK(false, "model \"vgg\": expected depth 11, 13, 16 or 19, got ", depth);
  }
}

}  // namespace

VGGImpl::VGGImpl(int64_t depth_, ModelOptions options_) : depth(depth_), options(std::move(options_)) {
  reset();
}

void VGGImpl::reset() {
  const std::string model = "vgg" + std::to_string(depth);
  const auto layers = vgg_layers(depth);
  detail::check_options(options, model);
  detail::check_no_stem(options, model);
  const int64_t side = options.image_size() / 32;
  TORCH_CHECK(side > 0, "model \"", model, "\": expected image_size >= 32 (five 2x2 max-pools), got ",
              options.image_size());
  const auto& policy = options.nonsmooth();

  GlobalRngGuard rng;  // layer constructors draw from the global RNG; initialize() redraws from the seed
  features = torch::nn::Sequential();
  int64_t channels = options.in_channels();
  int64_t conv = 0, pool = 0;
  for (const int64_t width : layers) {
    if (width == kPool) {
      features->push_back("pool" + std::to_string(++pool), policy.make_pool(2, 2));
      continue;
    }
    const auto n = std::to_string(++conv);
    features->push_back("conv" + n, detail::conv2d(channels, width, 3, 1, 1, true));
    if (options.batch_norm()) features->push_back("bn" + n, detail::batch_norm(width));
    features->push_back("relu" + n, policy.make_relu());
    channels = width;
  }
  register_module("features", features);
  classifier =
      register_module("classifier", torch::nn::Linear(channels * side * side, options.num_classes()));

  initialize(*this, options.init(), options.seed());
}

torch::Tensor VGGImpl::forward(torch::Tensor x) {
  detail::check_input(x, options, /*fixed_size=*/true, "vgg" + std::to_string(depth));
  return classifier->forward(features->forward(x).flatten(1));
}

void VGGImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::models::VGG(depth=" << depth << ", in_channels=" << options.in_channels()
         << ", image_size=" << options.image_size() << ", num_classes=" << options.num_classes()
         << ", batch_norm=" << (options.batch_norm() ? "true" : "false")
         << ", nonsmooth=" << options.nonsmooth().describe() << ")";
}

}  // namespace tiebreak::models
