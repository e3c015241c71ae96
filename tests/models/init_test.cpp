// Seeded initialization: reproducibility, isolation from the global RNG, agreement with torch's
// reset_parameters(), and the statistics of the kaiming scheme.
#include "tiebreak/models/init.h"
#include "tiebreak/models/registry.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace tiebreak::models {
namespace {

std::vector<std::pair<std::string, torch::Tensor>> state(const torch::nn::AnyModule& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model.ptr()->named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.ptr()->named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

bool bit_identical(const torch::nn::AnyModule& a, const torch::nn::AnyModule& b) {
  auto sa = state(a), sb = state(b);
  if (sa.size() != sb.size()) return false;
  for (size_t i = 0; i < sa.size(); ++i) {
    if (sa[i].first != sb[i].first || !torch::equal(sa[i].second, sb[i].second)) return false;
  }
  return true;
}

TEST(ModelInit, SameSeedGivesBitIdenticalWeights) {
  for (auto scheme : {InitScheme::PytorchDefault, InitScheme::Kaiming, InitScheme::TorchvisionResNet,
                      InitScheme::TorchvisionDenseNet}) {
    for (const std::string name : {"lenet5", "vgg11", "resnet18", "densenet121"}) {
      SCOPED_TRACE(name + " " + to_string(scheme));
      auto options = ModelOptions(name).batch_norm(true).init(scheme).seed(1234);
      auto first = make_model(options);
      torch::rand({100});  // the global RNG moving in between must not matter
      auto second = make_model(options);
      EXPECT_TRUE(bit_identical(first, second));
      EXPECT_FALSE(bit_identical(first, make_model(ModelOptions(options).seed(1235))));
    }
  }
}

TEST(ModelInit, BuildingAModelLeavesTheGlobalRngUntouched) {
  torch::manual_seed(99);
  const auto expected = torch::rand({8});
  torch::manual_seed(99);
  make_model("resnet18", ModelOptions().batch_norm(true).seed(5));
  EXPECT_TRUE(torch::equal(torch::rand({8}), expected));
}

TEST(ModelInit, PytorchDefaultIsWhatResetParametersDrawsFromTheSameSeed) {
  // Independent reference: torch's own layers constructed right after torch::manual_seed, in model order.
  const uint64_t seed = 42;
  auto model = make_model("lenet5", ModelOptions().in_channels(1).image_size(28).seed(seed));
  torch::manual_seed(seed);
  torch::nn::Conv2d conv1(torch::nn::Conv2dOptions(1, 6, 5));
  torch::nn::Conv2d conv2(torch::nn::Conv2dOptions(6, 16, 5));
  torch::nn::Linear fc1(256, 120), fc2(120, 84), fc3(84, 10);
  auto params = model.ptr()->named_parameters();
  EXPECT_TRUE(torch::equal(params["features.conv1.weight"], conv1->weight));
  EXPECT_TRUE(torch::equal(params["features.conv1.bias"], conv1->bias));
  EXPECT_TRUE(torch::equal(params["features.conv2.weight"], conv2->weight));
  EXPECT_TRUE(torch::equal(params["classifier.fc1.weight"], fc1->weight));
  EXPECT_TRUE(torch::equal(params["classifier.fc2.bias"], fc2->bias));
  EXPECT_TRUE(torch::equal(params["classifier.fc3.weight"], fc3->weight));
}

TEST(ModelInit, KaimingStatistics) {
  auto model = make_model("vgg11", ModelOptions().batch_norm(true).init(InitScheme::Kaiming).seed(3));
  auto params = model.ptr()->named_parameters();
  // Linear: N(0, 0.01²), bias 0. 5,120 samples: the sample std has a standard error of 0.01/√10240 ≈ 1e-4.
  auto fc = params["classifier.weight"];
  EXPECT_NEAR(fc.std().item<double>(), 0.01, 3e-4);
  EXPECT_NEAR(fc.mean().item<double>(), 0.0, 0.001);
  EXPECT_EQ(params["classifier.bias"].abs().max().item<double>(), 0.0);
  // Conv: U(±√6/√fan_in) has std √2/√fan_in; conv bias 0.
  for (const auto& [name, fan_in] : std::vector<std::pair<std::string, double>>{
           {"features.conv3.weight", 128 * 9}, {"features.conv8.weight", 512 * 9}}) {
    auto w = params[name];
    const double bound = std::sqrt(6.0 / fan_in);
    EXPECT_LE(w.abs().max().item<double>(), bound) << name;
    EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / fan_in), 0.02 * std::sqrt(2.0 / fan_in)) << name;
  }
  EXPECT_EQ(params["features.conv1.bias"].abs().max().item<double>(), 0.0);
  // BatchNorm: weight 1, bias 0.
  EXPECT_TRUE(torch::equal(params["features.bn1.weight"], torch::ones({64})));
  EXPECT_TRUE(torch::equal(params["features.bn1.bias"], torch::zeros({64})));
}

TEST(ModelInit, PytorchDefaultBoundsDifferFromKaiming) {
  // reset_parameters() uses a = √5: U(±1/√fan_in), a std of 1/√(3·fan_in), √6 times smaller than kaiming's.
  auto model = make_model("vgg11", ModelOptions().seed(3));
  auto w = model.ptr()->named_parameters()["features.conv8.weight"];
  const double fan_in = 512 * 9;
  EXPECT_LE(w.abs().max().item<double>(), 1 / std::sqrt(fan_in));
  EXPECT_NEAR(w.std().item<double>(), 1 / std::sqrt(3 * fan_in), 0.02 / std::sqrt(3 * fan_in));
}

TEST(ModelInit, TorchvisionResNetIsKaimingNormalOnFanOut) {
  // The study's CIFAR ResNet18 (models/resnet.py): kaiming_normal_(mode="fan_out", nonlinearity="relu") on
  // every conv, BN weight 1 bias 0, the fc left at PyTorch's default.
  auto model =
      make_model("resnet18", ModelOptions().batch_norm(true).init(InitScheme::TorchvisionResNet).seed(4));
  auto params = model.ptr()->named_parameters();
  // [128, 64, 3, 3]: fan_out 1152 and fan_in 576 give stds 0.0417 and 0.0589; 73,728 samples pin it to ~0.3
  // %.
  auto w = params["layer2.0.conv1.weight"];
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / 1152), 0.02 * std::sqrt(2.0 / 1152));
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 1e-3);
  // Normal, not uniform: a uniform of that std stops at √3·std; 2.4M normal draws reach past 4·std.
  auto big = params["layer4.1.conv2.weight"];
  const double std = std::sqrt(2.0 / (512 * 9));
  EXPECT_NEAR(big.std().item<double>(), std, 0.01 * std);
  EXPECT_GT(big.abs().max().item<double>(), 4 * std);
  // fc: reset_parameters(), U(±1/√512) for the weight and the bias.
  const double bound = 1 / std::sqrt(512.0);
  EXPECT_LE(params["fc.weight"].abs().max().item<double>(), bound);
  EXPECT_NEAR(params["fc.weight"].std().item<double>(), bound / std::sqrt(3.0),
              0.05 * bound / std::sqrt(3.0));
  EXPECT_LE(params["fc.bias"].abs().max().item<double>(), bound);
  EXPECT_GT(params["fc.bias"].abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(params["bn1.weight"], torch::ones({64})));
  EXPECT_TRUE(torch::equal(params["layer3.1.bn2.bias"], torch::zeros({256})));
}

TEST(ModelInit, TorchvisionDenseNetIsKaimingNormalOnFanInWithZeroLinearBias) {
  // The study's DenseNet121 (models/densenet.py): kaiming_normal_ (fan_in, gain √2) on every conv, BN 1/0,
  // the classifier's default weight and a zero bias.
  auto model = make_model("densenet121", ModelOptions()
                                             .variant(ModelVariant::Study)
                                             .stem(Stem::ImageNet)
                                             .batch_norm(true)
                                             .init(InitScheme::TorchvisionDenseNet)
                                             .seed(5));
  auto params = model.ptr()->named_parameters();
  // [32, 128, 3, 3]: fan_in 1152 (std 0.0417) against fan_out 288 (0.0833).
  auto w = params["features.denseblock3.denselayer1.conv2.weight"];
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / 1152), 0.02 * std::sqrt(2.0 / 1152));
  EXPECT_GT(w.abs().max().item<double>(), std::sqrt(3.0) * std::sqrt(2.0 / 1152));  // not uniform
  const double bound = 1 / std::sqrt(1024.0);
  EXPECT_LE(params["classifier.weight"].abs().max().item<double>(), bound);
  EXPECT_NEAR(params["classifier.weight"].std().item<double>(), bound / std::sqrt(3.0),
              0.05 * bound / std::sqrt(3.0));
  EXPECT_EQ(params["classifier.bias"].abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(params["features.norm0.weight"], torch::ones({64})));
  EXPECT_TRUE(torch::equal(params["features.norm5.bias"], torch::zeros({1024})));
}

TEST(ModelInit, UnknownParameterOwnerIsAnError) {
  torch::nn::Sequential net(torch::nn::Linear(2, 2), torch::nn::LayerNorm(torch::nn::LayerNormOptions({2})));
  try {
    initialize(*net, InitScheme::Kaiming, 0);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("has no initialization rule"), std::string::npos);
  }
}

TEST(ModelInit, SchemeNamesRoundTrip) {
  for (auto scheme : {InitScheme::PytorchDefault, InitScheme::Kaiming, InitScheme::TorchvisionResNet,
                      InitScheme::TorchvisionDenseNet}) {
    EXPECT_EQ(core::parse_enum<InitScheme>(to_string(scheme), "model.init"), scheme);
  }
  EXPECT_EQ(to_string(InitScheme::TorchvisionResNet), "torchvision_resnet");
  EXPECT_THROW(core::parse_enum<InitScheme>("xavier", "model.init"), c10::Error);
  EXPECT_EQ(core::parse_enum<ModelVariant>("study", "model.variant"), ModelVariant::Study);
  EXPECT_EQ(to_string(ModelVariant::Torchvision), "torchvision");
  EXPECT_THROW(core::parse_enum<ModelVariant>("timm", "model.variant"), c10::Error);
}

}  // namespace
}  // namespace tiebreak::models
