// Parameter counts against the published/torchvision numbers, which pin the architectures layer by layer.
#include "tiebreak/models/registry.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace tiebreak::models {
namespace {

int64_t count_parameters(const ModelOptions& options) {
  int64_t n = 0;
  for (const auto& p : make_model(options).ptr()->parameters()) n += p.numel();
  return n;
}

TEST(ModelParameters, LeNet5On28x28MnistWithoutBatchNorm) {
  EXPECT_EQ(count_parameters(ModelOptions("lenet5").in_channels(1).image_size(28).num_classes(10)), 44426);
}

TEST(ModelParameters, LeNet5BatchNormAddsTwoParametersPerChannel) {
  // BN2d(6), BN2d(16), BN1d(120), BN1d(84): 2·(6 + 16 + 120 + 84) = 452.
  EXPECT_EQ(count_parameters(ModelOptions("lenet5").in_channels(1).image_size(28).batch_norm(true)),
            44426 + 452);
}

TEST(ModelParameters, LeNet5FlattenSizeFollowsImageSize) {
  // 32×32 leaves 16·5·5 = 400 features instead of 256: fc1 grows by 144·120 weights.
  EXPECT_EQ(count_parameters(ModelOptions("lenet5").in_channels(1).image_size(32)), 44426 + 144 * 120);
}

TEST(ModelParameters, Vgg11Cifar) {
  EXPECT_EQ(count_parameters(ModelOptions("vgg11")), 9225610);
  EXPECT_EQ(count_parameters(ModelOptions("vgg11").batch_norm(true)), 9231114);
}

TEST(ModelParameters, DeeperVggsCifar) {
  // Σ over the stack of C_in·C_out·9 + C_out, plus Linear(512, 10): 9,410,122, 14,719,818, 20,029,514.
  EXPECT_EQ(count_parameters(ModelOptions("vgg13")), 9410122);
  EXPECT_EQ(count_parameters(ModelOptions("vgg16")), 14719818);
  EXPECT_EQ(count_parameters(ModelOptions("vgg19")), 20029514);
}

TEST(ModelParameters, ResNet18CifarWithIdentityNorms) {
  EXPECT_EQ(count_parameters(ModelOptions("resnet18").stem(Stem::Cifar).batch_norm(false)), 11164362);
}

TEST(ModelParameters, ResNet18CifarWithBatchNorm) {
  // The usual CIFAR ResNet-18 count: 9,600 BN parameters on top of the Identity-norm model.
  EXPECT_EQ(count_parameters(ModelOptions("resnet18").stem(Stem::Cifar).batch_norm(true)), 11173962);
}

TEST(ModelParameters, ResNet34And50MatchTorchvisionWithImageNetStem) {
  // torchvision.models.resnet34() / resnet50(): 3 input channels, BatchNorm, 1000 classes, ImageNet stem.
  // The stem pool geometry has no parameters, so the study's 2×2/2 and torchvision's 3×3/2 pad 1 agree.
  auto torchvision = ModelOptions().stem(Stem::ImageNet).batch_norm(true).in_channels(3).num_classes(1000);
  EXPECT_EQ(count_parameters(ModelOptions(torchvision).name("resnet34")), 21797672);
  EXPECT_EQ(count_parameters(ModelOptions(torchvision).name("resnet50")), 25557032);
  EXPECT_EQ(
      count_parameters(ModelOptions(torchvision).name("resnet50").stem_pool_kernel(3).stem_pool_padding(1)),
      25557032);
}

TEST(ModelParameters, DenseNet121MatchesTorchvisionWithImageNetStem) {
  // torchvision.models.densenet121(): BatchNorm, 1000 classes, 7×7 stem.
  EXPECT_EQ(
      count_parameters(
          ModelOptions("densenet121").stem(Stem::ImageNet).batch_norm(true).in_channels(3).num_classes(1000)),
      7978856);
}

TEST(ModelParameters, DenseNet121CifarStemAndNoNorms) {
  // CIFAR stem: conv0 3×3 instead of 7×7 (3·64·(49 − 9) fewer weights); 10 classes: 990·1025 fewer in the
  // classifier.
  const int64_t cifar_bn = 7978856 - 3 * 64 * 40 - 990 * 1025;
  EXPECT_EQ(count_parameters(ModelOptions("densenet121").batch_norm(true)), cifar_bn);
  // Without norms the 2·C parameters of every BatchNorm go: norm0 (64), 58 dense layers (norm1 over their
  // input width, norm2 over 128), 3 transitions, norm5 (1024).
  int64_t bn_channels = 64 + 1024;
  int64_t channels = 64;
  const std::vector<int64_t> blocks = {6, 12, 24, 16};
  for (size_t b = 0; b < blocks.size(); ++b) {
    for (int64_t i = 0; i < blocks[b]; ++i) bn_channels += channels + i * 32 + 128;
    channels += blocks[b] * 32;
    if (b + 1 < blocks.size()) {  // transition
      bn_channels += channels;
      channels /= 2;
    }
  }
  EXPECT_EQ(count_parameters(ModelOptions("densenet121").batch_norm(false)), cifar_bn - 2 * bn_channels);
}

TEST(ModelParameters, DenseNet121AsTheStudyBuiltIt) {
  // models/densenet.py: 7×7/2 stem conv, BN only at norm0 and norm5 (dense layers and transitions got
  // norm_layer=None), 10 classes. The study's counts: 6,880,458 without BN and 6,882,634 with (2·(64 + 1024)
  // BN parameters more).
  auto study = ModelOptions("densenet121").variant(ModelVariant::Study).stem(Stem::ImageNet).in_channels(3);
  EXPECT_EQ(count_parameters(ModelOptions(study).batch_norm(false)), 6880458);
  EXPECT_EQ(count_parameters(ModelOptions(study).batch_norm(true)), 6882634);
  // The torchvision build without norms has the same convolutions and classifier: the same count.
  EXPECT_EQ(count_parameters(ModelOptions("densenet121").stem(Stem::ImageNet).batch_norm(false)), 6880458);
}

}  // namespace
}  // namespace tiebreak::models
