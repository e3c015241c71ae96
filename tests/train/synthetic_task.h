#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/data/tensor_dataset.h"
#include "tiebreak/train/task.h"

#include "support/tiny_lenet.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

namespace tiebreak::train::testing {

/// A small learnable classification problem: 3 classes of 1x8x8 images, each
/// class a fixed random pattern plus Gaussian noise. Same tensors for every call;
/// `options` (seed, batch sizes, limits, device, dtype) shape the batches as the
/// trainer asks for them.
inline std::shared_ptr<data::Dataset> synthetic_data(int64_t train, int64_t test, data::DataOptions options) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  auto patterns = torch::randn({3, 1, 8, 8}, gen);
  auto make = [&](int64_t n) {
    auto y = torch::randint(0, 3, {n}, gen, torch::kLong);
    auto x = patterns.index_select(0, y) + 0.8 * torch::randn({n, 1, 8, 8}, gen);
    return data::ImageTensors{x, y};
  };
  auto train_split = make(train);
  auto test_split = make(test);
  return std::make_shared<data::TensorDataset>(std::move(options), "synthetic", train_split, test_split, 3,
                                               data::Normalization{}, data::Augmentation{});
}

/// synthetic_data with the given seed and batch sizes.
inline std::shared_ptr<data::Dataset> synthetic_data(int64_t train = 192, int64_t test = 96,
                                                     uint64_t seed = 0, int64_t batch_size = 32,
                                                     int64_t test_batch_size = 64) {
  return synthetic_data(train, test,
                        data::DataOptions("synthetic")
                            .seed(seed)
                            .train_batch_size(batch_size)
                            .test_batch_size(test_batch_size));
}

/// A dataset that forwards everything to `inner` but its options (`options`) and, when `epoch` is given,
/// its epochs: how a test watches or breaks the streams the trainer reads.
class ForwardingDataset : public data::Dataset {
 public:
  using EpochFn = std::function<std::unique_ptr<data::BatchStream>(data::Split, int64_t, data::Shard)>;
  ForwardingDataset(std::shared_ptr<data::Dataset> inner, data::DataOptions options, EpochFn epoch = {})
      : data::Dataset(std::move(options)), inner_(std::move(inner)), epoch_(std::move(epoch)) {}
  std::string name() const override { return inner_->name(); }
  int64_t num_classes() const override { return inner_->num_classes(); }
  data::ImageShape image_shape() const override { return inner_->image_shape(); }
  data::Normalization normalization() const override { return inner_->normalization(); }
  int64_t size(data::Split split) const override { return inner_->size(split); }
  std::unique_ptr<data::BatchStream> epoch(data::Split split, int64_t e, data::Shard shard) const override {
    return epoch_ ? epoch_(split, e, shard) : inner_->epoch(split, e, shard);
  }
  std::string generator() const override { return inner_->generator(); }

 private:
  std::shared_ptr<data::Dataset> inner_;
  EpochFn epoch_;
};

/// The trainer's model of a Sequential (no tie counters: the trainer collects them from the module).
inline Model sequential_model(torch::nn::Sequential net) {
  Model m;
  m.module = net.ptr();
  m.forward = [net](const torch::Tensor& x) mutable { return net->forward(x); };
  return m;
}

/// conv 3x3 → ReLU → 2x2 max pooling → linear: a CNN small enough for many short runs.
inline Model synthetic_model(const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t seed) {
  torch::manual_seed(seed);
  return sequential_model(torch::nn::Sequential(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)), torch::nn::ReLU(),
      torch::nn::MaxPool2d(2), torch::nn::Flatten(), torch::nn::Linear(4 * 4 * 4, data.num_classes())));
}

inline Components synthetic_components() {
  Components c;
  c.make_data = [](const config::ExperimentConfig&, const data::DataOptions& options) {
    return synthetic_data(192, 96, options);
  };
  c.make_model = synthetic_model;
  return c;
}

/// A config for the synthetic task: defaults plus `overrides` (dotted assignments).
inline config::LoadedConfig synthetic_config(const std::vector<std::string>& overrides = {}) {
  nlohmann::json j = {
      {"data", {{"dataset", "synthetic"}, {"batch_size", 32}, {"test_batch_size", 64}}},
      {"train", {{"epochs", 4}, {"optimizer", {{"name", "sgd"}, {"lr", 0.05}, {"momentum", 0.9}}}}},
      {"exp", {{"deterministic", true}, {"device", "cpu"}}}};
  for (const auto& o : overrides) config::apply_override(j, o);
  return config::config_from_json(j, "synthetic");
}

/// A config file for the built CLI: the tests' tiny LeNet task (support/tiny_lenet.h) for `epochs` epochs.
inline std::filesystem::path write_cli_config(const std::filesystem::path& dir, int epochs) {
  tiebreak::testing::TinyLenet task;
  task.epochs = epochs;
  return tiebreak::testing::write_tiny_lenet(dir / "synthetic.json", task);
}

}  // namespace tiebreak::train::testing
