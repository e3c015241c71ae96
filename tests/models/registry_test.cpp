// The registry: names, errors that list the known models, extension, and option validation.
#include "tiebreak/models/registry.h"
#include "support/test_support.h"
#include "tiebreak/models/lenet.h"
#include "tiebreak/models/resnet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace tiebreak::models {
namespace {

using ::testing::HasSubstr;

TEST(ModelRegistry, KnowsTheStudyModels) {
  auto names = model_names();
  for (const std::string name :
       {"lenet5", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "densenet121"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(ModelRegistry, BuildsTheRightClass) {
  EXPECT_NE(std::dynamic_pointer_cast<LeNet5Impl>(make_model("lenet5", ModelOptions().image_size(28)).ptr()),
            nullptr);
  auto resnet = std::dynamic_pointer_cast<ResNetImpl>(make_model("resnet50", ModelOptions()).ptr());
  ASSERT_NE(resnet, nullptr);
  EXPECT_EQ(resnet->depth, 50);
  EXPECT_EQ(resnet->options.name(), "resnet50");
}

TEST(ModelRegistry, UnknownNameListsTheKnownNames) {
  auto message = testing::error_message([] { make_model("vgg12", ModelOptions()); });
  EXPECT_THAT(message, HasSubstr("unknown name \"vgg12\""));
  for (const auto& name : model_names()) EXPECT_THAT(message, HasSubstr(name));
}

TEST(ModelRegistry, RegisterModelAddsANameAndRefusesDuplicates) {
  register_model("registry_test_tiny", [](const ModelOptions& o) {
    return torch::nn::AnyModule(torch::nn::Linear(o.in_channels(), o.num_classes()));
  });
  auto tiny = make_model("registry_test_tiny", ModelOptions().in_channels(4).num_classes(2));
  EXPECT_EQ(tiny.forward(torch::zeros({1, 4})).sizes(), (std::vector<int64_t>{1, 2}));
  EXPECT_THAT(testing::error_message([] {
                register_model("lenet5", [](const ModelOptions&) { return torch::nn::AnyModule(); });
              }),
              HasSubstr("already registered"));
}

TEST(ModelRegistry, BadOptionsAreOneLineErrorsNamingTheField) {
  EXPECT_THAT(testing::error_message([] { make_model("vgg11", ModelOptions().image_size(28)); }),
              HasSubstr("expected image_size >= 32"));
  EXPECT_THAT(testing::error_message([] { make_model("lenet5", ModelOptions().image_size(12)); }),
              HasSubstr("expected image_size >= 16"));
  EXPECT_THAT(testing::error_message([] { make_model("resnet18", ModelOptions().num_classes(0)); }),
              HasSubstr("expected num_classes > 0"));
  EXPECT_THAT(testing::error_message([] { make_model("densenet121", ModelOptions().in_channels(0)); }),
              HasSubstr("expected in_channels > 0"));
  EXPECT_THAT(testing::error_message([] { make_model("vgg11", ModelOptions().stem(Stem::ImageNet)); }),
              HasSubstr("has no stem to choose"));
  EXPECT_THAT(testing::error_message(
                  [] { make_model("densenet121", ModelOptions().stem(Stem::ImageNet).image_size(16)); }),
              HasSubstr("image_size 16"));
  EXPECT_THAT(testing::error_message([] { make_model("resnet18", ModelOptions().stem_pool_kernel(0)); }),
              HasSubstr("max_pool2d: kernel_size must be greater than zero, got (0, 0)"));
}

TEST(ModelRegistry, StemNamesRoundTrip) {
  for (auto stem : {Stem::Cifar, Stem::ImageNet})
    EXPECT_EQ(core::parse_enum<Stem>(to_string(stem), "model.stem"), stem);
  EXPECT_THAT(testing::error_message([] { core::parse_enum<Stem>("mnist", "model.stem"); }),
              HasSubstr("model.stem: expected one of cifar|imagenet, got \"mnist\""));
}

TEST(ModelRegistry, CloneCopiesWeightsIntoIndependentModules) {
  auto model = make_model("resnet18", ModelOptions().batch_norm(true).seed(11));
  auto copy = model.clone();
  auto a = model.ptr()->named_parameters();
  auto b = copy.ptr()->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) {
    EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
    EXPECT_NE(p.value().data_ptr(), b[p.key()].data_ptr()) << p.key();
  }
  auto x = torch::randn({2, 3, 32, 32});
  model.ptr()->eval();
  copy.ptr()->eval();
  EXPECT_TRUE(torch::equal(model.forward(x), copy.forward(x)));
}

}  // namespace
}  // namespace tiebreak::models
