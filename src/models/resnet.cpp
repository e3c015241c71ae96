#include "tiebreak/models/resnet.h"

#include "models/layers.h"
#include "tiebreak/models/init.h"

#include <array>

namespace tiebreak::models {
namespace {

// conv 1×1 (stride) + norm on the shortcut when the block changes shape, as in torchvision.
torch::nn::Sequential make_downsample(int64_t in_planes, int64_t out_planes, int64_t stride,
                                      const ModelOptions& options) {
  torch::nn::Sequential downsample;
  if (stride != 1 || in_planes != out_planes) {
    downsample->push_back("0", detail::conv2d(in_planes, out_planes, 1, stride, 0, false));
    downsample->push_back("1", detail::norm2d(options, out_planes));
  }
  return downsample;
}

struct ResNetSpec {
  bool bottleneck;
  std::array<int64_t, 4> blocks;
};

ResNetSpec resnet_spec(int64_t depth) {
  switch (depth) {
    case 18:
      return {false, {2, 2, 2, 2}};
    case 34:
      return {false, {3, 4, 6, 3}};
    case 50:
      return {true, {3, 4, 6, 3}};
    default:
      TORCH_CHECK(false, "model \"resnet\": expected depth 18, 34 or 50, got ", depth);
  }
}

template <typename Block>
torch::nn::Sequential make_stage(int64_t& in_planes, int64_t planes, int64_t blocks, int64_t stride,
                                 const ModelOptions& options) {
  torch::nn::Sequential stage;
  for (int64_t i = 0; i < blocks; ++i) {
    stage->push_back(std::to_string(i), Block(in_planes, planes, i == 0 ? stride : 1, options));
    in_planes = planes * Block::Impl::expansion;
  }
  return stage;
}

std::ostream& print_block(std::ostream& stream, const char* name, int64_t in_planes, int64_t planes,
                          int64_t stride) {
  return stream << "tiebreak::models::" << name << "(in_planes=" << in_planes << ", planes=" << planes
                << ", stride=" << stride << ")";
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t in_planes_, int64_t planes_, int64_t stride_, ModelOptions options_)
    : in_planes(in_planes_), planes(planes_), stride(stride_), options(std::move(options_)) {
  reset();
}

void BasicBlockImpl::reset() {
  const auto& policy = options.nonsmooth();
  conv1 = register_module("conv1", detail::conv2d(in_planes, planes, 3, stride, 1, false));
  bn1 = detail::register_any(*this, "bn1", detail::norm2d(options, planes));
  relu1 = detail::register_any(*this, "relu1", policy.make_relu());
  conv2 = register_module("conv2", detail::conv2d(planes, planes, 3, 1, 1, false));
  bn2 = detail::register_any(*this, "bn2", detail::norm2d(options, planes));
  downsample = register_module("downsample", make_downsample(in_planes, planes * expansion, stride, options));
  relu2 = detail::register_any(*this, "relu2", policy.make_relu());
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  auto out = relu1.forward(bn1.forward(conv1->forward(x)));
  out = bn2.forward(conv2->forward(out));
  auto shortcut = downsample->is_empty() ? x : downsample->forward(x);
  return relu2.forward(out + shortcut);
}

void BasicBlockImpl::pretty_print(std::ostream& stream) const {
  print_block(stream, "BasicBlock", in_planes, planes, stride);
}

BottleneckImpl::BottleneckImpl(int64_t in_planes_, int64_t planes_, int64_t stride_, ModelOptions options_)
    : in_planes(in_planes_), planes(planes_), stride(stride_), options(std::move(options_)) {
  reset();
}

void BottleneckImpl::reset() {
  const auto& policy = options.nonsmooth();
  conv1 = register_module("conv1", detail::conv2d(in_planes, planes, 1, 1, 0, false));
  bn1 = detail::register_any(*this, "bn1", detail::norm2d(options, planes));
  relu1 = detail::register_any(*this, "relu1", policy.make_relu());
  conv2 = register_module("conv2", detail::conv2d(planes, planes, 3, stride, 1, false));
  bn2 = detail::register_any(*this, "bn2", detail::norm2d(options, planes));
  relu2 = detail::register_any(*this, "relu2", policy.make_relu());
  conv3 = register_module("conv3", detail::conv2d(planes, planes * expansion, 1, 1, 0, false));
  bn3 = detail::register_any(*this, "bn3", detail::norm2d(options, planes * expansion));
  downsample = register_module("downsample", make_downsample(in_planes, planes * expansion, stride, options));
  relu3 = detail::register_any(*this, "relu3", policy.make_relu());
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto out = relu1.forward(bn1.forward(conv1->forward(x)));
  out = relu2.forward(bn2.forward(conv2->forward(out)));
  out = bn3.forward(conv3->forward(out));
  auto shortcut = downsample->is_empty() ? x : downsample->forward(x);
  return relu3.forward(out + shortcut);
}

void BottleneckImpl::pretty_print(std::ostream& stream) const {
  print_block(stream, "Bottleneck", in_planes, planes, stride);
}

ResNetImpl::ResNetImpl(int64_t depth_, ModelOptions options_) : depth(depth_), options(std::move(options_)) {
  reset();
}

void ResNetImpl::reset() {
  const std::string model = "resnet" + std::to_string(depth);
  const auto spec = resnet_spec(depth);
  detail::check_options(options, model);
  TORCH_CHECK(detail::stem_output_size(options, options.image_size()) >= 1, "model \"", model,
              "\": image_size ", options.image_size(), " leaves nothing after the ",
              to_string(options.stem()), " stem");
  const auto& policy = options.nonsmooth();

  GlobalRngGuard rng;  // layer constructors draw from the global RNG; initialize() redraws from the seed
  conv1 = options.stem() == Stem::Cifar ? detail::conv2d(options.in_channels(), 64, 3, 1, 1, false)
                                        : detail::conv2d(options.in_channels(), 64, 7, 2, 3, false);
  register_module("conv1", conv1);
  bn1 = detail::register_any(*this, "bn1", detail::norm2d(options, 64));
  relu = detail::register_any(*this, "relu", policy.make_relu());
  maxpool = detail::register_any(
      *this, "maxpool",
      policy.make_pool(options.stem_pool_kernel(), options.stem_pool_stride(), options.stem_pool_padding()));

  int64_t in_planes = 64;
  std::array<torch::nn::Sequential*, 4> stages = {&layer1, &layer2, &layer3, &layer4};
  for (size_t i = 0; i < stages.size(); ++i) {
    const int64_t planes = int64_t{64} << i;
    const int64_t stride = i == 0 ? 1 : 2;
    *stages[i] = spec.bottleneck ? make_stage<Bottleneck>(in_planes, planes, spec.blocks[i], stride, options)
                                 : make_stage<BasicBlock>(in_planes, planes, spec.blocks[i], stride, options);
    register_module("layer" + std::to_string(i + 1), *stages[i]);
  }
  avgpool = register_module("avgpool", torch::nn::AdaptiveAvgPool2d(1));
  fc = register_module("fc", torch::nn::Linear(in_planes, options.num_classes()));

  initialize(*this, options.init(), options.seed());
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  detail::check_input(x, options, /*fixed_size=*/false, "resnet" + std::to_string(depth));
  x = maxpool.forward(relu.forward(bn1.forward(conv1->forward(x))));
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  return fc->forward(avgpool->forward(x).flatten(1));
}

void ResNetImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::models::ResNet(depth=" << depth << ", stem=" << to_string(options.stem())
         << ", stem_pool=" << options.stem_pool_kernel() << "/" << options.stem_pool_stride() << "/"
         << options.stem_pool_padding() << ", in_channels=" << options.in_channels()
         << ", num_classes=" << options.num_classes()
         << ", batch_norm=" << (options.batch_norm() ? "true" : "false")
         << ", nonsmooth=" << options.nonsmooth().describe() << ")";
}

}  // namespace tiebreak::models
