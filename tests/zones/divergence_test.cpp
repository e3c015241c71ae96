// tiebreak diverge: the study's weight-divergence experiment (train_vs_weights.ipynb).
#include "tiebreak/zones/divergence.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/data/tensor_dataset.h"
#include "tiebreak/models/registry.h"

#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <fstream>

namespace tiebreak::zones {
namespace {

using ::testing::HasSubstr;
using tiebreak::testing::error_message;
using tiebreak::testing::TempDir;

config::LoadedConfig divergence_config(const std::vector<std::string>& overrides = {}) {
  nlohmann::json j = {{"data", {{"dataset", "synthetic"}, {"batch_size", 16}, {"test_batch_size", 32}}},
                      {"nonsmooth", {{"formulation", "mixture"}}},
                      {"train", {{"epochs", 2}, {"optimizer", {{"name", "sgd"}, {"lr", 0.05}}}}},
                      {"exp", {{"device", "cpu"}}}};
  for (const auto& o : overrides) config::apply_override(j, o);
  return config::config_from_json(j, "divergence-test");
}

// LeNet5 on MNIST-like images (a constant background around a random stroke), whose pooling windows tie at
// positive values: β changes the gradients.
train::Components lenet_components() {
  train::Components c;
  c.make_data = [](const config::ExperimentConfig&, const data::DataOptions& options) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    auto x = torch::full({64, 1, 28, 28}, -1.0);  // MNIST's black after its (0.5, 0.5) normalization
    x.narrow(2, 8, 12).narrow(3, 8, 12).copy_(torch::randn({64, 1, 12, 12}, gen).clamp_min(0));
    auto y = torch::randint(0, 10, {64}, gen, torch::kLong);
    return std::make_shared<data::TensorDataset>(options, "mnist-like", data::ImageTensors{x, y},
                                                 data::ImageTensors{x.narrow(0, 0, 32), y.narrow(0, 0, 32)},
                                                 10, data::Normalization{}, data::Augmentation{});
  };
  c.make_model = [](const config::ExperimentConfig& cfg, const data::Dataset&, uint64_t seed) {
    auto any = models::make_model(
        models::ModelOptions("lenet5").in_channels(1).image_size(28).num_classes(10).seed(seed).nonsmooth(
            nn::Nonsmooth().beta(cfg.nonsmooth.beta).formulation(cfg.nonsmooth.formulation)));
    train::Model m;
    m.module = any.ptr();
    m.forward = [any](const torch::Tensor& x) mutable { return any.forward<torch::Tensor>(x); };
    return m;
  };
  return c;
}

TEST(Divergence, SharedInitTwinStaysAtZeroOthersMoveAway) {
  auto options = DivergenceOptions::parse_values("nonsmooth.beta=0,0,1,1000");
  auto result = run_divergence(divergence_config(), options, lenet_components());
  ASSERT_EQ(result.records.size(), 3u);  // before training and after each of the 2 epochs
  // The start: every network is the reference, bit for bit.
  EXPECT_EQ(result.records[0].epoch, 0);
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(result.records[0].weight_l1[k], 0.0) << k;
    EXPECT_EQ(result.records[0].test_accuracy[k], result.records[0].test_accuracy[0]) << k;
  }
  for (size_t e = 1; e < 3; ++e) {
    const auto& r = result.records[e];
    EXPECT_EQ(r.epoch, static_cast<int64_t>(e));
    EXPECT_EQ(r.weight_l1[0], 0.0);
    EXPECT_EQ(r.weight_l1[1], 0.0) << "the twin drifted: CPU kernels are deterministic";
    EXPECT_GT(r.weight_l1[2], 0.0);
    EXPECT_GT(r.weight_l1[3], r.weight_l1[2]);  // β = 1000 amplifies the tie contributions
  }
  EXPECT_EQ(result.lr, 0.05);  // no jitter
  const auto csv = result.csv();
  EXPECT_THAT(csv, HasSubstr("epoch,network,value,weight_l1,test_accuracy\n0,0,0,0,"));
  EXPECT_THAT(csv, HasSubstr("\n2,3,1000,"));
}

TEST(Divergence, LearningRateJitterIsOneDrawFromTheSeed) {
  auto options = DivergenceOptions::parse_values("nonsmooth.beta=0,1");
  options.lr_jitter = 0.2;
  options.epochs = 1;
  options.batch_limit = 1;
  const auto a = run_divergence(divergence_config({"train.optimizer.lr=0.01"}), options, lenet_components());
  const auto b = run_divergence(divergence_config({"train.optimizer.lr=0.01"}), options, lenet_components());
  const auto c = run_divergence(divergence_config({"train.optimizer.lr=0.01", "train.seed=9"}), options,
                                lenet_components());
  // 0.01 · (1 + u/5), u ∈ [0, 1): the study's rate.
  EXPECT_GE(a.lr, 0.01);
  EXPECT_LT(a.lr, 0.012);
  EXPECT_EQ(a.lr, b.lr);
  EXPECT_NE(a.lr, c.lr);
}

TEST(Divergence, ResumedRunEqualsTheUninterruptedOne) {
  TempDir dir;
  auto options = DivergenceOptions::parse_values("nonsmooth.beta=0,1");
  options.batch_limit = 2;
  options.out = dir / "whole";
  const auto whole = run_divergence(divergence_config({"train.epochs=3"}), options, lenet_components());

  options.out = dir / "split";
  options.epochs = 1;
  run_divergence(divergence_config({"train.epochs=3"}), options, lenet_components());
  options.epochs = 0;
  options.resume = true;
  const auto resumed = run_divergence(divergence_config({"train.epochs=3"}), options, lenet_components());
  ASSERT_EQ(resumed.records.size(), 4u);
  for (size_t e = 0; e < 4; ++e) {
    EXPECT_EQ(resumed.records[e].weight_l1, whole.records[e].weight_l1) << e;
    EXPECT_EQ(resumed.records[e].test_accuracy, whole.records[e].test_accuracy) << e;
  }
  EXPECT_EQ(tiebreak::read_text(dir / "whole" / "divergence.csv"),
            tiebreak::read_text(dir / "split" / "divergence.csv"));
  // Another grid in the same directory is refused.
  auto other = DivergenceOptions::parse_values("nonsmooth.beta=0,10");
  other.out = dir / "split";
  other.resume = true;
  EXPECT_THAT(
      error_message(
          [&] { run_divergence(divergence_config({"train.epochs=3"}), other, lenet_components()); }),
      HasSubstr("checkpoint-0.pt: written by a run with another config or values; resume with the same "
                "ones or choose another output directory"));
}

TEST(Divergence, BadValuesAreOneLineErrors) {
  EXPECT_THAT(error_message([] { DivergenceOptions::parse_values("nonsmooth.beta=0"); }),
              HasSubstr("nonsmooth.beta=0: expected at least two comma-separated values"));
  EXPECT_THAT(error_message([] { DivergenceOptions::parse_values("nonsmooth.beta"); }),
              HasSubstr("nonsmooth.beta: expected key=v1,v2"));
  EXPECT_THAT(error_message([] { DivergenceOptions::parse_values("train.lr=0,1"); }),
              HasSubstr("expected a key of the nonsmooth section"));
  EXPECT_THAT(error_message([] { DivergenceOptions::parse_values("nonsmooth.beta=0,,1"); }),
              HasSubstr("empty value"));
  const auto parsed = DivergenceOptions::parse_values("nonsmooth.beta=0,0,1,10,100,1000,10000");
  EXPECT_EQ(parsed.values.size(), 7u);
  EXPECT_EQ(parsed.values[6], 10000);
}

TEST(DivergenceCli, WritesItsCsvAndRejectsAMissingValuesFlag) {
  TempDir dir;
  std::ofstream(dir / "c.json") << (R"({"data": {"dataset": "synthetic", "batch_size": 32,
      "synthetic": {"train_size": 64, "test_size": 32}}, "model": {"name": "lenet5"},
      "train": {"epochs": 1, "optimizer": {"lr": 0.01}}, "exp": {"device": "cpu"}})");
  auto ok = tiebreak::testing::run_tiebreak("diverge " + (dir / "c.json").string() +
                                            " --values nonsmooth.beta=0,0,1 --out " + (dir / "out").string());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("weight divergence: nonsmooth.beta"));
  EXPECT_THAT(tiebreak::read_text(dir / "out" / "divergence.csv"), HasSubstr("1,2,1,"));
  auto bad =
      tiebreak::testing::run_tiebreak("diverge " + (dir / "c.json").string() + " --values nonsmooth.beta=0");
  EXPECT_NE(bad.exit_code, 0);
  // The library names the value, the command line its flag.
  EXPECT_THAT(bad.err, HasSubstr("tiebreak: error: --values nonsmooth.beta=0: expected at least two"));
}

}  // namespace
}  // namespace tiebreak::zones
