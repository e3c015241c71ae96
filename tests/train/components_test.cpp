// default_components(): what a config names reaches the model and the data the trainer gets.
#include "tiebreak/config/options.h"
#include "tiebreak/data/tensor_dataset.h"
#include "tiebreak/models/nonsmooth_layers.h"
#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/norm_pool.h"
#include "tiebreak/nn/modules/pooling.h"
#include "tiebreak/train/task.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace tiebreak::train {
namespace {

config::ExperimentConfig config_of(const nlohmann::json& j) {
  return config::config_from_json(j, "test").config;
}

/// A stand-in dataset of the given image shape (make_model reads only the shape and the classes).
std::shared_ptr<data::Dataset> shaped(int64_t channels, int64_t size, int64_t classes = 10) {
  data::ImageTensors split{torch::zeros({4, channels, size, size}), torch::zeros({4}, torch::kLong)};
  return std::make_shared<data::TensorDataset>(
      data::DataOptions("shape").train_batch_size(2).test_batch_size(2), "shape", split, split, classes,
      data::Normalization{}, data::Augmentation{});
}

TEST(DefaultComponents, NonsmoothConfigReachesEveryLayer) {
  auto cfg = config_of({{"model", {{"name", "lenet5"}}},
                        {"nonsmooth", {{"beta", 1000}, {"formulation", "mixture"}, {"relu_alpha", 0.5}}}});
  auto model = default_components().make_model(cfg, *shaped(1, 28), 0);
  int64_t pools = 0, relus = 0;
  for (const auto& layer : models::nonsmooth_layers(*model.module)) {
    if (auto pool = std::dynamic_pointer_cast<nn::MaxPool2dImpl>(layer.module)) {
      ++pools;
      EXPECT_EQ(pool->options.beta(), 1000) << layer.name;
      EXPECT_EQ(pool->options.formulation(), ops::PoolFormulation::Mixture) << layer.name;
    } else if (auto relu = std::dynamic_pointer_cast<nn::ReLUImpl>(layer.module)) {
      ++relus;
      EXPECT_EQ(relu->options.alpha(), 0.5) << layer.name;
    }
  }
  EXPECT_EQ(pools, 2);
  EXPECT_EQ(relus, 4);
  EXPECT_EQ(model.tie_counters.size(), 2u);

  auto normpool =
      default_components().make_model(config_of({{"model", {{"name", "lenet5"}}},
                                                 {"nonsmooth", {{"pool", "normpool"}, {"grad_at_zero", 1}}}}),
                                      *shaped(1, 28), 0);
  int64_t norm_pools = 0;
  for (const auto& layer : models::nonsmooth_layers(*normpool.module)) {
    if (auto pool = std::dynamic_pointer_cast<nn::NormPool2dImpl>(layer.module)) {
      ++norm_pools;
      EXPECT_EQ(pool->options.grad_at_zero(), 1.0) << layer.name;
    }
  }
  EXPECT_EQ(norm_pools, 2);
}

TEST(DefaultComponents, ModelConfigReachesTheNetwork) {
  // The study's DenseNet121 (variant, 7×7 stem, 2×2/2 pool) on CIFAR-shaped data: its parameter count says
  // the variant arrived; init torchvision_densenet zeroes the classifier bias, pytorch_default does not.
  const nlohmann::json model = {
      {"name", "densenet121"}, {"variant", "study"},
      {"stem", "imagenet"},    {"init", "torchvision_densenet"},
      {"batch_norm", true},    {"stem_pool", {{"kernel", 2}, {"stride", 2}, {"padding", 0}}}};
  auto net = default_components().make_model(config_of({{"model", model}}), *shaped(3, 32), 3);
  int64_t n = 0;
  for (const auto& p : net.module->parameters()) n += p.numel();
  EXPECT_EQ(n, 6882634);
  EXPECT_EQ(net.module->named_parameters()["classifier.bias"].abs().max().item<double>(), 0.0);
  auto other = model;
  other["init"] = "pytorch_default";
  auto default_init = default_components().make_model(config_of({{"model", other}}), *shaped(3, 32), 3);
  EXPECT_GT(default_init.module->named_parameters()["classifier.bias"].abs().max().item<double>(), 0.0);
  // The seed reaches the weights.
  auto again = default_components().make_model(config_of({{"model", model}}), *shaped(3, 32), 3);
  auto reseeded = default_components().make_model(config_of({{"model", model}}), *shaped(3, 32), 4);
  const auto w = [](const Model& m) { return m.module->named_parameters()["features.conv0.weight"]; };
  EXPECT_TRUE(torch::equal(w(net), w(again)));
  EXPECT_FALSE(torch::equal(w(net), w(reseeded)));
}

TEST(DefaultComponents, UnshuffledDataComesInFileOrderEveryEpoch) {
  const nlohmann::json data = {{"dataset", "synthetic"},
                               {"batch_size", 16},
                               {"augmentation", "none"},
                               {"synthetic", {{"train_size", 64}, {"test_size", 16}}}};
  auto order = [&](bool shuffle, int64_t epoch) {
    auto d = data;
    d["shuffle"] = shuffle;
    const auto cfg = config_of({{"data", d}});
    auto dataset = default_components().make_data(cfg, config::to_data_options(cfg, /*seed=*/3));
    std::vector<torch::Tensor> xs;
    auto stream = dataset->epoch(data::Split::Train, epoch);
    while (auto b = stream->next()) xs.push_back(b->images.clone());
    return torch::cat(xs);
  };
  // Unshuffled: one order, every epoch (the study's volume notebook read CIFAR-10 this way).
  const auto file_order = order(false, 0);
  EXPECT_TRUE(torch::equal(order(false, 1), file_order));
  EXPECT_TRUE(torch::equal(order(false, 7), file_order));
  EXPECT_FALSE(torch::equal(order(true, 0), order(true, 1)));
  EXPECT_FALSE(torch::equal(order(true, 0), file_order));
  // The same examples either way: a permutation of the file order.
  EXPECT_TRUE(torch::equal(std::get<0>(order(true, 0).flatten(1).sum(1).sort()),
                           std::get<0>(file_order.flatten(1).sum(1).sort())));
}

TEST(DefaultComponents, DataLimitsCutEveryEpochToItsFirstExamples) {
  // data.train_limit / data.test_limit reach the dataset: each epoch trains on the first 40 positions of its
  // own permutation (another subset every epoch), the test pass reads the first 10 test images in order.
  const nlohmann::json data = {
      {"dataset", "synthetic"}, {"batch_size", 16}, {"test_batch_size", 4},
      {"train_limit", 40},      {"test_limit", 10}, {"synthetic", {{"train_size", 64}, {"test_size", 16}}}};
  const auto limited_cfg = config_of({{"data", data}});
  auto unlimited = data;
  unlimited.erase("train_limit");
  unlimited.erase("test_limit");
  const auto all_cfg = config_of({{"data", unlimited}});
  auto limited = default_components().make_data(limited_cfg, config::to_data_options(limited_cfg, 5));
  auto all = default_components().make_data(all_cfg, config::to_data_options(all_cfg, 5));
  auto images = [](const data::Dataset& d, data::Split split, int64_t epoch) {
    std::vector<torch::Tensor> xs;
    std::vector<int64_t> sizes;
    auto stream = d.epoch(split, epoch);
    while (auto b = stream->next()) {
      xs.push_back(b->images);
      sizes.push_back(b->images.size(0));
    }
    return std::make_pair(torch::cat(xs), sizes);
  };
  for (int64_t epoch : {0, 1}) {
    const auto [first, sizes] = images(*limited, data::Split::Train, epoch);
    EXPECT_EQ(sizes, (std::vector<int64_t>{16, 16, 8}));
    EXPECT_TRUE(torch::equal(first, images(*all, data::Split::Train, epoch).first.narrow(0, 0, 40)));
  }
  EXPECT_FALSE(torch::equal(images(*limited, data::Split::Train, 0).first,
                            images(*limited, data::Split::Train, 1).first));
  const auto [test, test_sizes] = images(*limited, data::Split::Test, 0);
  EXPECT_EQ(test_sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_TRUE(torch::equal(test, images(*all, data::Split::Test, 0).first.narrow(0, 0, 10)));
  EXPECT_EQ(limited->num_examples(data::Split::Train), 40);
  EXPECT_EQ(limited->num_examples(data::Split::Test), 10);
}

}  // namespace
}  // namespace tiebreak::train
