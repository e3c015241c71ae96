// Every pooling layer and ReLU of every model carries the policy, and their tie counters are reachable by
// layer name and count.
#include "tiebreak/models/nonsmooth_layers.h"
#include "tiebreak/models/registry.h"
#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/batch_norm.h"
#include "tiebreak/nn/modules/norm_pool.h"
#include "tiebreak/nn/modules/pooling.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <map>

namespace tiebreak::models {
namespace {

struct LayerCount {
  std::string model;
  Stem stem;
  int64_t pools;
  int64_t relus;
};

// Counted from the architectures: lenet5 2 pools, 4 ReLUs; vgg11 5 pools, one ReLU per conv (8); resnet18 the
// stem pool and ReLU + 2 per BasicBlock (8 blocks); resnet50 the stem + 3 per Bottleneck (16 blocks);
// densenet121 the stem pool and ReLU, 2 per dense layer (58), 1 per transition (3) and the final one.
const std::vector<LayerCount> kModels = {
    {"lenet5", Stem::Cifar, 2, 4},           {"vgg11", Stem::Cifar, 5, 8},
    {"vgg19", Stem::Cifar, 5, 16},           {"resnet18", Stem::Cifar, 1, 17},
    {"resnet18", Stem::ImageNet, 1, 17},     {"resnet34", Stem::Cifar, 1, 33},
    {"resnet50", Stem::ImageNet, 1, 49},     {"densenet121", Stem::Cifar, 1, 1 + 58 * 2 + 3 + 1},
    {"densenet121", Stem::ImageNet, 1, 121},
};

TEST(NonsmoothLayers, EveryMaxPoolAndReluCarriesThePolicy) {
  const auto policy = nn::Nonsmooth().beta(1000).formulation(ops::PoolFormulation::Mixture).relu_alpha(0.5);
  for (const auto& m : kModels) {
    SCOPED_TRACE(m.model + " " + to_string(m.stem));
    auto model = make_model(m.model, ModelOptions().nonsmooth(policy).stem(m.stem).batch_norm(true));
    int64_t pools = 0, relus = 0;
    for (const auto& item : model.ptr()->named_modules()) {
      const auto* module = item.value().get();
      // No native nonsmooth layer may be left anywhere in the network.
      EXPECT_EQ(dynamic_cast<const torch::nn::MaxPool2dImpl*>(module), nullptr) << item.key();
      EXPECT_EQ(dynamic_cast<const torch::nn::ReLUImpl*>(module), nullptr) << item.key();
      EXPECT_EQ(dynamic_cast<const nn::NormPool2dImpl*>(module), nullptr) << item.key();
      if (const auto* pool = dynamic_cast<const nn::MaxPool2dImpl*>(module)) {
        ++pools;
        EXPECT_EQ(pool->options.beta(), 1000) << item.key();
        EXPECT_EQ(pool->options.formulation(), ops::PoolFormulation::Mixture) << item.key();
      } else if (const auto* relu = dynamic_cast<const nn::ReLUImpl*>(module)) {
        ++relus;
        EXPECT_EQ(relu->options.alpha(), 0.5) << item.key();
      }
    }
    EXPECT_EQ(pools, m.pools);
    EXPECT_EQ(relus, m.relus);

    auto layers = nonsmooth_layers(*model.ptr());
    EXPECT_EQ(static_cast<int64_t>(layers.size()), m.pools + m.relus);
    std::map<const nn::TieCounter*, std::string> owners;
    for (const auto& layer : layers) {
      ASSERT_NE(layer.counter, nullptr) << layer.name;
      // One counter per layer: no module is shared between two call sites.
      EXPECT_TRUE(owners.emplace(layer.counter.get(), layer.name).second)
          << layer.name << " shares its counter with " << owners[layer.counter.get()];
    }
  }
}

TEST(NonsmoothLayers, NormPoolPolicyPutsNormPoolOnEveryPoolingSite) {
  const auto policy = nn::Nonsmooth().pool(nn::PoolKind::NormPool).grad_at_zero(1).relu_alpha(1);
  for (const auto& [name, sites] : std::vector<std::pair<std::string, int64_t>>{
           {"lenet5", 2}, {"vgg11", 5}, {"resnet18", 1}, {"densenet121", 1}}) {
    SCOPED_TRACE(name);
    auto model = make_model(name, ModelOptions().nonsmooth(policy));
    int64_t pools = 0;
    for (const auto& layer : nonsmooth_layers(*model.ptr())) {
      if (layer.kind != NonsmoothKind::Pool) continue;
      ++pools;
      auto pool = std::dynamic_pointer_cast<nn::NormPool2dImpl>(layer.module);
      ASSERT_NE(pool, nullptr) << layer.name;
      EXPECT_EQ(pool->options.grad_at_zero(), 1.0) << layer.name;
      EXPECT_EQ(layer.counter, nullptr) << layer.name;
    }
    EXPECT_EQ(pools, sites);
    for (const auto& item : model.ptr()->named_modules()) {
      EXPECT_EQ(dynamic_cast<const torch::nn::MaxPool2dImpl*>(item.value().get()), nullptr) << item.key();
      EXPECT_EQ(dynamic_cast<const nn::MaxPool2dImpl*>(item.value().get()), nullptr) << item.key();
    }
  }
}

TEST(NonsmoothLayers, StudysDenseNetCarriesThePolicyOnlyInItsStemAndLastRelu) {
  // models/densenet.py hands relu_fn (ReLU'(0) = α) and maxpool_fn (β) to the stem and the final ReLU only;
  // its _DenseBlock and _Transition build nn.ReLU and no normalization.
  const auto policy = nn::Nonsmooth().beta(10).formulation(ops::PoolFormulation::Mixture).relu_alpha(0.5);
  auto model = make_model(
      "densenet121",
      ModelOptions().variant(ModelVariant::Study).stem(Stem::ImageNet).batch_norm(true).nonsmooth(policy));
  std::vector<std::string> policy_relus, pools;
  int64_t plain_relus = 0, batch_norms = 0;
  for (const auto& item : model.ptr()->named_modules()) {
    const auto* module = item.value().get();
    if (auto* relu = dynamic_cast<const nn::ReLUImpl*>(module)) {
      policy_relus.push_back(item.key());
      EXPECT_EQ(relu->options.alpha(), 0.5);
    }
    if (auto* pool = dynamic_cast<const nn::MaxPool2dImpl*>(module)) {
      pools.push_back(item.key());
      EXPECT_EQ(pool->options.beta(), 10);
      EXPECT_EQ((*pool->options.kernel_size())[0], 2);
      EXPECT_EQ((*pool->options.stride())[0], 2);
    }
    if (dynamic_cast<const torch::nn::ReLUImpl*>(module)) ++plain_relus;
    if (dynamic_cast<const nn::BatchNormImpl*>(module)) ++batch_norms;
  }
  EXPECT_EQ(policy_relus, (std::vector<std::string>{"features.relu0", "features.relu5"}));
  EXPECT_EQ(pools, std::vector<std::string>{"features.pool0"});
  EXPECT_EQ(plain_relus, 58 * 2 + 3);
  EXPECT_EQ(batch_norms, 2);  // norm0, norm5
  // The 7×7/2 stem and the 2×2/2 pool take 32×32 CIFAR images to 8×8 before the three transitions.
  EXPECT_EQ(model.forward(torch::zeros({2, 3, 32, 32})).sizes(), torch::IntArrayRef({2, 10}));
  EXPECT_THROW(make_model("densenet121", ModelOptions().variant(ModelVariant::Study)), c10::Error);
}

TEST(NonsmoothLayers, StemPoolGeometryReachesTheLayer) {
  auto model = make_model(
      "resnet18",
      ModelOptions().stem(Stem::ImageNet).stem_pool_kernel(3).stem_pool_stride(2).stem_pool_padding(1));
  auto layers = nonsmooth_layers(*model.ptr());
  auto it =
      std::find_if(layers.begin(), layers.end(), [](const NonsmoothLayer& l) { return l.name == "maxpool"; });
  ASSERT_NE(it, layers.end());
  auto pool = std::dynamic_pointer_cast<nn::MaxPool2dImpl>(it->module);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ((*pool->options.kernel_size())[0], 3);
  EXPECT_EQ((*pool->options.stride())[1], 2);
  EXPECT_EQ((*pool->options.padding())[0], 1);
}

TEST(NonsmoothLayers, ZeroInputToLeNet5TiesEveryWindowAndEveryReluInput) {
  // Kaiming init zeroes conv biases, so a zero image gives conv1 outputs that are exactly 0: every relu1
  // input is a tie and every pool1 window holds four equal maxima.
  auto model = make_model("lenet5", ModelOptions().in_channels(1).image_size(28).init(InitScheme::Kaiming));
  std::map<std::string, NonsmoothLayer> by_name;
  for (auto& layer : nonsmooth_layers(*model.ptr())) by_name[layer.name] = layer;
  ASSERT_EQ(by_name.count("features.relu1"), 1u);
  ASSERT_EQ(by_name.count("features.pool1"), 1u);
  ASSERT_EQ(by_name.count("classifier.relu4"), 1u);

  set_tie_statistics(*model.ptr(), true);
  model.forward(torch::zeros({2, 1, 28, 28}));
  const auto relu1 = by_name["features.relu1"].counter->stats();
  EXPECT_EQ(relu1.calls, 1);
  EXPECT_EQ(relu1.points, 2 * 6 * 24 * 24);
  EXPECT_EQ(relu1.ties, relu1.points);
  const auto pool1 = by_name["features.pool1"].counter->stats();
  EXPECT_EQ(pool1.points, 2 * 6 * 12 * 12);
  EXPECT_EQ(pool1.ties, pool1.points);
  EXPECT_EQ(pool1.max_ties, 4);
  // Linear biases are zero too: everything downstream is zero.
  EXPECT_EQ(by_name["classifier.relu4"].counter->stats().tie_fraction(), 1.0);

  reset_tie_statistics(*model.ptr());
  EXPECT_EQ(by_name["features.pool1"].counter->stats().points, 0);
  set_tie_statistics(*model.ptr(), false);
  model.forward(torch::zeros({2, 1, 28, 28}));
  for (const auto& [name, layer] : by_name) EXPECT_EQ(layer.counter->stats().calls, 0) << name;
}

TEST(NonsmoothLayers, RandomInputRarelyTiesInTheFirstPool) {
  auto model = make_model("vgg11", ModelOptions().seed(1));
  set_tie_statistics(*model.ptr(), true);
  model.forward(torch::randn({1, 3, 32, 32}, at::make_generator<at::CPUGeneratorImpl>(7)));
  const auto layers = nonsmooth_layers(*model.ptr());
  auto it = std::find_if(layers.begin(), layers.end(),
                         [](const NonsmoothLayer& l) { return l.name == "features.pool1"; });
  ASSERT_NE(it, layers.end());
  const auto s = it->counter->stats();
  EXPECT_EQ(s.points, 64 * 16 * 16);
  // Only all-zero windows after the ReLU tie (a window of two positive equal float32 maxima is vanishingly
  // rare): with about half the conv outputs negative, a window is all zero about 1/16 of the time.
  EXPECT_GT(s.tie_fraction(), 0.0);
  EXPECT_LT(s.tie_fraction(), 0.15);
}

TEST(NonsmoothLayers, ClonesKeepThePolicyWithFreshCounters) {
  auto model = make_model("resnet18", ModelOptions().nonsmooth(nn::Nonsmooth().beta(1).relu_alpha(1)));
  auto copy = model.clone();
  auto a = nonsmooth_layers(*model.ptr());
  auto b = nonsmooth_layers(*copy.ptr());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_NE(a[i].counter, b[i].counter) << a[i].name;
    if (auto relu = std::dynamic_pointer_cast<nn::ReLUImpl>(b[i].module))
      EXPECT_EQ(relu->options.alpha(), 1.0);
    if (auto pool = std::dynamic_pointer_cast<nn::MaxPool2dImpl>(b[i].module))
      EXPECT_EQ(pool->options.beta(), 1.0);
  }
}

TEST(NonsmoothLayers, ABareLayerListsItself) {
  nn::ReLU relu;
  auto layers = nonsmooth_layers(*relu);
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0].name, "");
  EXPECT_EQ(layers[0].kind, NonsmoothKind::ReLU);
  EXPECT_EQ(layers[0].counter, relu->counter());
}

}  // namespace
}  // namespace tiebreak::models
