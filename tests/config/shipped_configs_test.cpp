#include "support/test_support.h"

#include "tiebreak/config/config.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace tiebreak::config {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> shipped_configs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(tiebreak::testing::source_dir() / "configs")) {
    if (e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ShippedConfigs, EveryConfigValidates) {
  auto configs = shipped_configs();
  ASSERT_GE(configs.size(), 2u);
  for (const auto& path : configs) {
    EXPECT_NO_THROW(load_config(path)) << path;
  }
}

TEST(ShippedConfigs, PaperConfigsCarryTheStudysSettings) {
  const fs::path dir = tiebreak::testing::source_dir() / "configs" / "paper";
  auto vgg = load_config(dir / "cifar10_vgg11_sgd_bn_fp32.json").config;
  EXPECT_EQ(vgg.model.name, "vgg11");
  EXPECT_TRUE(vgg.model.batch_norm);
  EXPECT_EQ(vgg.train.epochs, 200);
  EXPECT_EQ(vgg.data.batch_size, 128);
  EXPECT_DOUBLE_EQ(vgg.train.optimizer.momentum, 0.9);
  EXPECT_DOUBLE_EQ(vgg.train.optimizer.weight_decay, 5e-4);
  EXPECT_EQ(vgg.train.schedule.name, ScheduleKind::Cosine);
  EXPECT_DOUBLE_EQ(vgg.train.optimizer.lr, 0.007417153480506564);  // learning_rates.csv, beta = 0, 32 bits

  auto imagenet = load_config(dir / "imagenet_resnet50_bn_amp_fp16.json").config;
  EXPECT_EQ(imagenet.train.precision, Precision::AmpFp16);
  EXPECT_EQ(imagenet.train.schedule.name, ScheduleKind::Step);
  EXPECT_EQ(imagenet.train.schedule.step_size, 30);
  EXPECT_DOUBLE_EQ(imagenet.train.optimizer.lr, 0.1);
  EXPECT_DOUBLE_EQ(imagenet.train.optimizer.weight_decay, 1e-4);
  EXPECT_EQ(imagenet.data.batch_size, 512);
  EXPECT_EQ(imagenet.train.epochs, 80);

  // The data-parallel launch config (docs/distributed.md): the study's recipe, 512 being the global batch.
  auto multi_gpu = load_config(dir / "imagenet_resnet50_amp.json").config;
  EXPECT_EQ(multi_gpu.model.name, "resnet50");
  EXPECT_TRUE(multi_gpu.model.batch_norm);
  EXPECT_EQ(multi_gpu.train.precision, Precision::AmpFp16);
  EXPECT_DOUBLE_EQ(multi_gpu.train.optimizer.lr, 0.1);
  EXPECT_DOUBLE_EQ(multi_gpu.train.optimizer.momentum, 0.9);
  EXPECT_DOUBLE_EQ(multi_gpu.train.optimizer.weight_decay, 1e-4);
  EXPECT_EQ(multi_gpu.train.schedule.name, ScheduleKind::Step);
  EXPECT_EQ(multi_gpu.train.schedule.step_size, 30);
  EXPECT_DOUBLE_EQ(multi_gpu.train.schedule.gamma, 0.1);
  EXPECT_EQ(multi_gpu.train.epochs, 80);
  EXPECT_EQ(multi_gpu.data.batch_size, 512);
  EXPECT_EQ(multi_gpu.exp.distributed.backend, "auto");
  EXPECT_DOUBLE_EQ(multi_gpu.exp.distributed.timeout_seconds, 1800);

  auto adam = load_config(dir / "mnist_lenet5_adam_nobn_fp32.json").config;
  EXPECT_EQ(adam.train.optimizer.name, OptimizerKind::Adam);
  EXPECT_EQ(adam.train.epochs, 80);
  EXPECT_DOUBLE_EQ(adam.train.optimizer.weight_decay, 0);

  auto svhn = load_config(dir / "svhn_vgg11_sgd_bn_fp16.json").config;
  EXPECT_TRUE(svhn.data.svhn_extra);
  EXPECT_EQ(svhn.train.precision, Precision::Fp16);
}

}  // namespace
}  // namespace tiebreak::config
