// Output shapes of every model and stem, in float32 and after conversion to half precision.
#include "tiebreak/models/registry.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace tiebreak::models {
namespace {

struct ShapeCase {
  std::string name;
  Stem stem;
  int64_t image_size;
  bool batch_norm;
};

std::string label(const ShapeCase& c) {
  return c.name + "_" + to_string(c.stem) + "_" + std::to_string(c.image_size) +
         (c.batch_norm ? "_bn" : "_nobn");
}

std::string case_name(const ::testing::TestParamInfo<ShapeCase>& info) { return label(info.param); }

// gtest (and ctest's test names) print the parameter with this instead of its raw bytes.
void PrintTo(const ShapeCase& c, std::ostream* os) { *os << label(c); }

class ModelShapes : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(ModelShapes, LogitsAreBatchByClassesAndBackwardReachesEveryParameter) {
  const auto& c = GetParam();
  auto model = make_model(
      ModelOptions(c.name).stem(c.stem).image_size(c.image_size).batch_norm(c.batch_norm).num_classes(7));
  auto x = torch::randn({2, 3, c.image_size, c.image_size});
  auto logits = model.forward(x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 7}));
  logits.sum().backward();
  for (const auto& p : model.ptr()->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllModels, ModelShapes,
    ::testing::Values(
        ShapeCase{"vgg11", Stem::Cifar, 32, true}, ShapeCase{"vgg11", Stem::Cifar, 64, false},
        ShapeCase{"vgg13", Stem::Cifar, 32, false}, ShapeCase{"vgg16", Stem::Cifar, 32, true},
        ShapeCase{"vgg19", Stem::Cifar, 32, false}, ShapeCase{"resnet18", Stem::Cifar, 32, false},
        ShapeCase{"resnet18", Stem::ImageNet, 64, true}, ShapeCase{"resnet34", Stem::Cifar, 32, true},
        ShapeCase{"resnet34", Stem::ImageNet, 32, false}, ShapeCase{"resnet50", Stem::Cifar, 16, true},
        ShapeCase{"resnet50", Stem::ImageNet, 32, false}, ShapeCase{"densenet121", Stem::Cifar, 32, true},
        ShapeCase{"densenet121", Stem::ImageNet, 64, false}),
    case_name);

TEST(ModelShapes, LeNet5OnMnistAndCifarSizes) {
  for (bool bn : {false, true}) {
    auto mnist = make_model("lenet5", ModelOptions().in_channels(1).image_size(28).batch_norm(bn));
    EXPECT_EQ(mnist.forward(torch::randn({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));
    auto cifar = make_model("lenet5", ModelOptions().in_channels(3).image_size(32).batch_norm(bn));
    EXPECT_EQ(cifar.forward(torch::randn({3, 3, 32, 32})).sizes(), (std::vector<int64_t>{3, 10}));
  }
}

TEST(ModelShapes, TorchvisionStemPoolGeometry) {
  // 64 → conv 7×7/2 → 32 → MaxPool 3×3/2 pad 1 → 16 → 16, 8, 4, 2 through the stages.
  auto model =
      make_model("resnet18", ModelOptions().stem(Stem::ImageNet).stem_pool_kernel(3).stem_pool_padding(1));
  EXPECT_EQ(model.forward(torch::randn({1, 3, 64, 64})).sizes(), (std::vector<int64_t>{1, 10}));
}

TEST(ModelShapes, InputOfTheWrongShapeIsAOneLineError) {
  auto lenet = make_model("lenet5", ModelOptions().in_channels(1).image_size(28));
  try {
    lenet.forward(torch::randn({2, 1, 32, 32}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("expected input of shape [N, 1, 28, 28]"),
              std::string::npos)
        << e.what_without_backtrace();
  }
  auto resnet = make_model("resnet18", ModelOptions().in_channels(3));
  EXPECT_THROW(resnet.forward(torch::randn({2, 1, 32, 32})), c10::Error);
  EXPECT_THROW(resnet.forward(torch::randn({3, 32, 32})), c10::Error);
}

class ModelPrecision : public ::testing::TestWithParam<torch::Dtype> {};

TEST_P(ModelPrecision, ConvertedModelsRunForwardAndBackwardInThatDtype) {
  // 16×16 inputs keep this cheap; together these models use every layer type of the zoo (vgg11 adds none).
  const auto dtype = GetParam();
  for (const std::string name : {"lenet5", "resnet18", "densenet121"}) {
    SCOPED_TRACE(name);
    auto model = make_model(name, ModelOptions().batch_norm(true).image_size(16));
    model.ptr()->to(dtype);
    auto logits = model.forward(torch::randn({2, 3, 16, 16}).to(dtype));
    EXPECT_EQ(logits.scalar_type(), dtype);
    EXPECT_TRUE(logits.isfinite().all().item<bool>());
    logits.sum().backward();
    for (const auto& p : model.ptr()->parameters()) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().scalar_type(), dtype);
    }
    model.ptr()->eval();
    EXPECT_EQ(model.forward(torch::randn({2, 3, 16, 16}).to(dtype)).scalar_type(), dtype);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ModelPrecision, ::testing::Values(torch::kHalf, torch::kBFloat16),
                         [](const ::testing::TestParamInfo<torch::Dtype>& info) {
                           return std::string(c10::toString(info.param));
                         });

}  // namespace
}  // namespace tiebreak::models
