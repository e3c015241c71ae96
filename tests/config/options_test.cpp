// The config → options mappings (tiebreak/config/options.h): every field reaches the options it names,
// each set to a value of its own so that a dropped or swapped field shows.
#include "tiebreak/config/options.h"

#include <gtest/gtest.h>

namespace tiebreak::config {
namespace {

TEST(ToModelOptions, EveryModelAndNonsmoothFieldReachesTheOptions) {
  ExperimentConfig c;
  c.model.name = "resnet18";
  c.model.batch_norm = true;
  c.model.init = models::InitScheme::TorchvisionResNet;
  c.model.variant = models::ModelVariant::Study;
  c.model.stem = models::Stem::ImageNet;
  c.model.stem_pool = {3, 4, 1};
  c.nonsmooth.pool = nn::PoolKind::NormPool;
  c.nonsmooth.beta = 1000;
  c.nonsmooth.formulation = ops::PoolFormulation::Mixture;
  c.nonsmooth.grad_at_zero = 0.25;
  c.nonsmooth.relu_alpha = 0.5;
  const auto o = to_model_options(c, 3, 64, 100, 42);
  EXPECT_EQ(o.name(), "resnet18");
  EXPECT_TRUE(o.batch_norm());
  EXPECT_EQ(o.init(), models::InitScheme::TorchvisionResNet);
  EXPECT_EQ(o.variant(), models::ModelVariant::Study);
  EXPECT_EQ(o.stem(), models::Stem::ImageNet);
  EXPECT_EQ(o.stem_pool_kernel(), 3);
  EXPECT_EQ(o.stem_pool_stride(), 4);
  EXPECT_EQ(o.stem_pool_padding(), 1);
  EXPECT_EQ(o.in_channels(), 3);
  EXPECT_EQ(o.image_size(), 64);
  EXPECT_EQ(o.num_classes(), 100);
  EXPECT_EQ(o.seed(), 42u);
  const auto& n = o.nonsmooth();
  EXPECT_EQ(n.pool(), nn::PoolKind::NormPool);
  EXPECT_EQ(n.beta(), 1000);
  EXPECT_EQ(n.formulation(), ops::PoolFormulation::Mixture);
  EXPECT_EQ(n.grad_at_zero(), 0.25);
  EXPECT_EQ(n.relu_alpha(), 0.5);
}

TEST(ToDataOptions, EveryDataFieldReachesTheOptions) {
  ExperimentConfig c;
  c.data.dataset = "cifar-10";
  c.data.root = "/data";
  c.data.batch_size = 96;
  c.data.test_batch_size = 77;
  c.data.shuffle = false;
  c.data.augmentation = Augmentation::None;
  c.data.svhn_extra = true;
  c.data.num_workers = 3;
  c.data.crop_size = 112;
  c.data.resize_size = 128;
  c.data.files.train = {"a.bin", "b.bin"};
  c.data.files.test = {"t.bin"};
  c.data.synthetic = {11, 5, 3, {3, 8, 8}};
  c.data.train_limit = 300;
  c.data.test_limit = 70;
  const auto o = to_data_options(c, 17, c10::Device(c10::kCPU), c10::kHalf);
  EXPECT_EQ(o.name(), "cifar-10");
  EXPECT_EQ(o.root(), "/data");
  EXPECT_EQ(o.train_batch_size(), 96);  // the global batch: a data-parallel rank sets its own part
  EXPECT_EQ(o.train_limit(), 300);
  EXPECT_EQ(o.test_limit(), 70);
  EXPECT_EQ(o.test_batch_size(), 77);
  EXPECT_FALSE(o.shuffle());
  EXPECT_FALSE(o.augment());
  EXPECT_TRUE(o.svhn_extra());
  EXPECT_EQ(o.num_workers(), 3);
  EXPECT_EQ(o.crop_size(), 112);
  EXPECT_EQ(o.resize_size(), 128);
  EXPECT_EQ(o.train_files(), (std::vector<std::string>{"a.bin", "b.bin"}));
  EXPECT_EQ(o.test_files(), (std::vector<std::string>{"t.bin"}));
  EXPECT_EQ(o.synthetic_train_size(), 11);
  EXPECT_EQ(o.synthetic_test_size(), 5);
  EXPECT_EQ(o.synthetic_classes(), 3);
  EXPECT_EQ(o.synthetic_shape(), (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ(o.seed(), 17u);
  EXPECT_EQ(o.dtype(), c10::kHalf);
  EXPECT_EQ(o.device(), c10::Device(c10::kCPU));
  c.data.augmentation = Augmentation::Standard;
  EXPECT_TRUE(to_data_options(c).augment());
}

}  // namespace
}  // namespace tiebreak::config
