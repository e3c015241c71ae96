#include "tiebreak/data/tensor_dataset.h"
#include "tiebreak/models/registry.h"
#include "tiebreak/nn/modules/pooling.h"
#include "tiebreak/zones/zones.h"

#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>
#include <set>
#include <sstream>

namespace tiebreak::zones {
namespace {

using config::Precision;

config::LoadedConfig test_config(int64_t batch_size, const std::vector<std::string>& overrides = {}) {
  nlohmann::json j = {
      {"data", {{"dataset", "synthetic"}, {"batch_size", batch_size}, {"test_batch_size", 16}}},
      {"train", {{"optimizer", {{"name", "sgd"}, {"lr", 0.05}}}}},
      {"zones", {{"initializations", 1}}},
      {"exp", {{"device", "cpu"}}}};
  for (const auto& o : overrides) config::apply_override(j, o);
  return config::config_from_json(j, "zones-test");
}

// pool(x + shift) → linear: the pooled values are x + shift, so `shift` decides whether a window of x
// is tied in a given precision.
struct CraftedImpl : torch::nn::Module {
  CraftedImpl(const torch::Tensor& shift_init, double beta) {
    shift = register_parameter("shift", shift_init.clone());
    pool = register_module("pool", nn::MaxPool2d(nn::MaxPool2dOptions(2).beta(beta)));
    linear = register_module("linear", torch::nn::Linear(1, 2));
    torch::NoGradGuard no_grad;
    linear->weight.copy_(torch::tensor({{1.0}, {-1.0}}));
    linear->bias.zero_();
  }
  torch::Tensor forward(const torch::Tensor& x) { return linear(pool(x + shift).flatten(1)); }
  torch::Tensor shift;
  nn::MaxPool2d pool{nullptr};
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(Crafted);

// Four 1x2x2 images [[1, 1], [0, 0]]: one window with two equal maxima each.
train::Components crafted_components(torch::Tensor shift) {
  train::Components c;
  c.make_data = [](const config::ExperimentConfig&, const data::DataOptions& options) {
    auto x = torch::tensor({1.0f, 1.0f, 0.0f, 0.0f}).view({1, 1, 2, 2}).repeat({4, 1, 1, 1});
    auto y = torch::tensor({0, 1, 0, 1}, torch::kLong);
    return std::make_shared<data::TensorDataset>(options, "crafted", data::ImageTensors{x, y},
                                                 data::ImageTensors{x, y}, 2, data::Normalization{},
                                                 data::Augmentation{});
  };
  c.make_model = [shift](const config::ExperimentConfig& cfg, const data::Dataset&, uint64_t) {
    Crafted net(shift, cfg.nonsmooth.beta);
    train::Model m;
    m.module = net.ptr();
    m.forward = [net](const torch::Tensor& x) mutable { return net->forward(x); };
    return m;
  };
  return c;
}

ZonesOptions beta_pair(const std::string& values, std::vector<Precision> precisions) {
  ZonesOptions options;
  options.pair = PairSpec::parse("nonsmooth.beta=" + values);
  options.precisions = std::move(precisions);
  return options;
}

TEST(ZonesRun, ExactTieIsBifurcation) {
  auto result = run_zones(test_config(2), beta_pair("0,1", {Precision::Fp32}),
                          crafted_components(torch::zeros({1, 1, 2, 2})));
  ASSERT_EQ(result.summaries.size(), 1u);
  const auto& s = result.summaries[0];
  EXPECT_EQ(s.batches, 2);
  EXPECT_EQ(s.nonzero, 2);
  EXPECT_EQ(s.bifurcation, 2);
  EXPECT_EQ(s.compensation, 0);
  EXPECT_EQ(s.ties.surviving, 4);  // one window per image, four images
  EXPECT_EQ(s.ties.created_by_rounding, 0);
  EXPECT_EQ(s.ties.broken_by_rounding, 0);
  for (const auto& r : result.batches) {
    EXPECT_EQ(r.zone, Zone::Bifurcation);
    ASSERT_EQ(r.layer_ties.size(), 1u);
    EXPECT_EQ(r.layer_ties[0], 2);
  }
}

TEST(ZonesRun, TieCreatedByRoundingIsCompensation) {
  // 1 + 2^-12 rounds to 1 in fp16 (a quarter of its spacing there) but not in fp32/fp64: the window is
  // tied only in fp16.
  auto shift = torch::tensor({std::ldexp(1.0, -12), 0.0, 0.0, 0.0}).view({1, 1, 2, 2});
  auto result =
      run_zones(test_config(2), beta_pair("0,1", {Precision::Fp16, Precision::Fp32, Precision::Fp64}),
                crafted_components(shift));
  ASSERT_EQ(result.summaries.size(), 3u);
  const auto& fp16 = result.summaries[0];
  EXPECT_EQ(fp16.nonzero, 2);
  EXPECT_EQ(fp16.compensation, 2);
  EXPECT_EQ(fp16.bifurcation, 0);
  EXPECT_EQ(fp16.ties.created_by_rounding, 4);
  EXPECT_EQ(fp16.ties.surviving, 0);
  for (size_t k = 1; k < 3; ++k) {
    EXPECT_EQ(result.summaries[k].nonzero, 0) << config::to_string(result.summaries[k].precision);
    EXPECT_EQ(result.summaries[k].histogram.zeros(), 2);
  }
}

TEST(ZonesRun, Fp64DiscrepancyCannotBeResolved) {
  auto result = run_zones(test_config(2), beta_pair("0,1", {Precision::Fp64}),
                          crafted_components(torch::zeros({1, 1, 2, 2})));
  EXPECT_EQ(result.summaries[0].nonzero, 2);
  EXPECT_EQ(result.summaries[0].unresolved, 2);
  EXPECT_EQ(result.summaries[0].bifurcation + result.summaries[0].compensation, 0);
}

TEST(ZonesRun, SameChoiceOnBothSidesGivesZeroDiscrepancy) {
  auto result = run_zones(test_config(2), beta_pair("0,0", {Precision::Fp32, Precision::Fp64}),
                          crafted_components(torch::zeros({1, 1, 2, 2})));
  // 2 mini-batches in each of the 2 precisions: the loops below see every one.
  ASSERT_EQ(result.batches.size(), 4u);
  ASSERT_EQ(result.summaries.size(), 2u);
  for (const auto& s : result.summaries) EXPECT_EQ(s.batches, 2);
  for (const auto& r : result.batches) {
    EXPECT_EQ(r.d.linf, 0.0);
    EXPECT_EQ(r.d.l1, 0.0);
    EXPECT_EQ(r.zone, Zone::None);
  }
  for (const auto& s : result.summaries) EXPECT_EQ(s.volume(), 0.0);
}

// LeNet5 from the model registry on random 28x28 images; with `background`, MNIST-like images: a constant
// nonzero background (MNIST's black, -1 after its (0.5, 0.5) normalization) around a random 12x12 stroke.
train::Components lenet_components(bool background = false) {
  train::Components c;
  c.make_data = [background](const config::ExperimentConfig&, const data::DataOptions& options) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    auto x = torch::randn({64, 1, 28, 28}, gen).clamp_min_(0);  // many exact zeros: ReLU/pool ties
    if (background) {
      auto stroke = x.narrow(2, 8, 12).narrow(3, 8, 12).clone();
      x.fill_(-1.0);
      x.narrow(2, 8, 12).narrow(3, 8, 12).copy_(stroke);
    }
    auto y = torch::randint(0, 10, {64}, gen, torch::kLong);
    return std::make_shared<data::TensorDataset>(options, "random", data::ImageTensors{x, y},
                                                 data::ImageTensors{x.narrow(0, 0, 32), y.narrow(0, 0, 32)},
                                                 10, data::Normalization{}, data::Augmentation{});
  };
  c.make_model = [](const config::ExperimentConfig& cfg, const data::Dataset&, uint64_t seed) {
    auto any = models::make_model(models::ModelOptions("lenet5")
                                      .in_channels(1)
                                      .image_size(28)
                                      .num_classes(10)
                                      .nonsmooth(nn::Nonsmooth()
                                                     .beta(cfg.nonsmooth.beta)
                                                     .formulation(cfg.nonsmooth.formulation)
                                                     .relu_alpha(cfg.nonsmooth.relu_alpha))
                                      .seed(seed));
    train::Model m;
    m.module = any.ptr();
    m.forward = [any](const torch::Tensor& x) mutable { return any.forward<torch::Tensor>(x); };
    return m;
  };
  return c;
}

TEST(ZonesRun, PairedNetworksStartBitIdentical) {
  auto components = lenet_components();
  auto cfg_a = test_config(16, {"nonsmooth.beta=0"}).config;
  auto cfg_b = test_config(16, {"nonsmooth.beta=1", "nonsmooth.relu_alpha=1"}).config;
  auto data = components.make_data(cfg_a, {});
  auto a = components.make_model(cfg_a, *data, 3).module;
  auto b = components.make_model(cfg_b, *data, 3).module;
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t k = 0; k < pa.size(); ++k)
    EXPECT_TRUE(torch::equal(pa[k].view(torch::kInt), pb[k].view(torch::kInt))) << "parameter " << k;
}

TEST(ZonesRun, APairThatDoesNotStartBitIdenticalIsRefused) {
  // run_zones checks the pair it builds, not the registry's seeding: side B (beta = 1) built from another
  // seed must stop the run before any discrepancy is measured.
  auto components = lenet_components();
  auto make = components.make_model;
  components.make_model = [make](const config::ExperimentConfig& cfg, const data::Dataset& data,
                                 uint64_t seed) {
    return make(cfg, data, cfg.nonsmooth.beta == 1 ? seed + 1 : seed);
  };
  EXPECT_THAT(testing::error_message(
                  [&] { run_zones(test_config(16), beta_pair("0,1", {Precision::Fp32}), components); }),
              ::testing::HasSubstr("was not built with bit-identical weights"));
  // The same wrapper with an equal pair builds both sides from one seed: accepted, D = 0 on every batch.
  auto same = run_zones(test_config(16), beta_pair("0,0", {Precision::Fp32}), components);
  ASSERT_EQ(same.batches.size(), 4u);
  for (const auto& r : same.batches) EXPECT_EQ(r.d.linf, 0.0);
}

TEST(ZonesRun, LeNetSameChoiceIsExactlyZeroAndDifferentChoiceIsAVolume) {
  auto components = lenet_components();
  auto same = run_zones(test_config(16), beta_pair("0,0", {Precision::Fp32}), components);
  ASSERT_EQ(same.batches.size(), 4u);
  for (const auto& r : same.batches) EXPECT_EQ(r.d.linf, 0.0);

  testing::TempDir dir;
  auto options = beta_pair("0,1", {Precision::Fp32});
  options.out = dir.path();
  auto result = run_zones(test_config(16), options, components);
  const auto& s = result.summaries[0];
  EXPECT_EQ(s.batches, 4);
  EXPECT_GE(s.volume(), 0.0);
  EXPECT_LE(s.volume(), 1.0);
  // Every fp32 mini-batch with D > 0 is classified one way or the other.
  EXPECT_EQ(s.bifurcation + s.compensation, s.nonzero);
  EXPECT_EQ(s.unresolved, 0);
  EXPECT_LE(s.nonzero_ci.low, s.volume());
  EXPECT_GE(s.nonzero_ci.high, s.volume());

  std::ifstream csv(dir.path() / "zones.csv");
  std::string line;
  int rows = -1;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 4);
  std::ifstream json_file(dir.path() / "zones.json");
  auto j = nlohmann::json::parse(json_file);
  EXPECT_EQ(j["precisions"][0]["precision"], "fp32");
  EXPECT_EQ(j["precisions"][0]["batches"], 4);
  EXPECT_EQ(j["precisions"][0]["volume"]["count"], s.nonzero);
  EXPECT_EQ(j["precisions"][0]["zones"]["bifurcation"], s.bifurcation);
  EXPECT_EQ(j["config"]["data"]["batch_size"], 16);
}

TEST(ZonesRun, PositiveTiesOfAConstantBackgroundMakeADiscrepancy) {
  // A constant background convolves to equal positive values in every window of channels with a positive
  // response: tied maxima the ReLU does not remove. The tied positions see identical input patches, so the
  // weight gradients agree over the reals and differ by rounding only: D > 0, a compensation zone.
  auto result = run_zones(test_config(16), beta_pair("0,1", {Precision::Fp32}), lenet_components(true));
  const auto& s = result.summaries[0];
  ASSERT_EQ(s.batches, 4);
  EXPECT_EQ(s.nonzero, 4);
  EXPECT_EQ(s.compensation + s.bifurcation, 4);
  EXPECT_GT(s.ties.low, 0);
  // D₁ in the study's 32-bit bins: no exact zeros, so the zero bar is empty.
  EXPECT_EQ(s.study_histogram.samples(), 4);
  EXPECT_EQ(s.study_histogram.zeros(), 0);
}

TEST(ZonesRun, InitializationsArePooledEachWithItsOwnSeed) {
  auto options = beta_pair("0,1", {Precision::Fp32, Precision::Fp64});
  options.batch_limit = 2;
  auto cfg = test_config(16, {"zones.initializations=3", "zones.initializations_fp64=1"});
  auto result = run_zones(cfg, options, lenet_components(true));
  ASSERT_EQ(result.summaries.size(), 2u);
  EXPECT_EQ(result.summaries[0].initializations, 3);
  EXPECT_EQ(result.summaries[0].batches, 6);
  EXPECT_EQ(result.summaries[0].study_histogram.samples(), 6);
  EXPECT_EQ(result.summaries[1].initializations, 1);
  EXPECT_EQ(result.summaries[1].batches, 2);
  ASSERT_EQ(result.batches.size(), 8u);
  std::set<double> first_losses;
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(result.batches[2 * k].initialization, static_cast<int64_t>(k));
    EXPECT_EQ(result.batches[2 * k].batch, 0);
    first_losses.insert(result.batches[2 * k].loss_a);
  }
  EXPECT_EQ(first_losses.size(), 3u) << "the initializations share their weights";
  const auto j = result.to_json();
  EXPECT_EQ(j["precisions"][0]["initializations"], 3);
  EXPECT_EQ(j["precisions"][0]["study_histogram"]["discrepancy"], "l1");
  EXPECT_EQ(j["precisions"][0]["study_histogram"]["exponents"], nlohmann::json({-9, 0}));
  EXPECT_EQ(j["precisions"][1]["study_histogram"]["exponents"], nlohmann::json({-18, -13}));
  EXPECT_NE(result.batches_csv().find("precision,initialization,epoch,batch"), std::string::npos);
}

TEST(ZonesRun, StudyHistogramRangesAreTheNotebooks) {
  EXPECT_EQ(study_histogram_range(Precision::Fp16, nn::PoolKind::MaxPool), std::make_pair(-8, 1));
  EXPECT_EQ(study_histogram_range(Precision::Fp32, nn::PoolKind::MaxPool), std::make_pair(-9, 0));
  EXPECT_EQ(study_histogram_range(Precision::Fp64, nn::PoolKind::MaxPool), std::make_pair(-18, -13));
  EXPECT_EQ(study_histogram_range(Precision::Fp16, nn::PoolKind::NormPool), std::make_pair(-8, 2));
  EXPECT_EQ(study_histogram_range(Precision::Fp32, nn::PoolKind::NormPool), std::make_pair(-9, 2));
  EXPECT_EQ(study_histogram_range(Precision::Fp64, nn::PoolKind::NormPool), std::make_pair(-18, -13));
}

TEST(ZonesRun, BatchLimitStopsEachEpochEarly) {
  auto options = beta_pair("0,1", {Precision::Fp32});
  options.batch_limit = 2;
  options.epochs = 2;
  auto result = run_zones(test_config(16), options, lenet_components());
  ASSERT_EQ(result.batches.size(), 4u);
  EXPECT_EQ(result.batches[1].batch, 1);
  EXPECT_EQ(result.batches[2].epoch, 1);
  EXPECT_EQ(result.batches[2].batch, 0);
}

TEST(ZonesRun, TrainingSideBySideRecordsWeightDistance) {
  auto options = beta_pair("0,0", {Precision::Fp32});
  options.train = true;
  options.epochs = 2;
  auto same = run_zones(test_config(16), options, lenet_components());
  ASSERT_EQ(same.summaries[0].epochs.size(), 2u);
  for (const auto& e : same.summaries[0].epochs) {
    EXPECT_EQ(e.weight_l1, 0.0);
    EXPECT_EQ(e.test_accuracy_a, e.test_accuracy_b);
  }
  // An exact tie in every image: the two shifts receive different gradients and move apart.
  options.pair = PairSpec::parse("nonsmooth.beta=0,1");
  auto different = run_zones(test_config(2), options, crafted_components(torch::zeros({1, 1, 2, 2})));
  EXPECT_GT(different.summaries[0].epochs.front().weight_l1, 0.0);
}

TEST(PairSpec, ParsesKeyAndTwoValues) {
  auto p = PairSpec::parse("nonsmooth.formulation=pure,mixture");
  EXPECT_EQ(p.key, "nonsmooth.formulation");
  EXPECT_EQ(p.value_a, "pure");
  EXPECT_EQ(p.value_b, "mixture");
  auto q = PairSpec::parse("nonsmooth.beta=0,1000");
  EXPECT_EQ(q.value_b, 1000);
  EXPECT_THROW(PairSpec::parse("train.lr=0,1"), c10::Error);
  EXPECT_THROW(PairSpec::parse("nonsmooth.beta=0"), c10::Error);
  EXPECT_THROW(PairSpec::parse("nonsmooth.beta=0,1,2"), c10::Error);
  EXPECT_THROW(PairSpec::parse("nonsmooth.beta"), std::exception);
}

TEST(Thresholds, ParseAndDefaults) {
  auto t = parse_thresholds("fp16=1e-2, fp64=0");
  EXPECT_EQ(t.at(Precision::Fp16), 1e-2);
  EXPECT_EQ(t.at(Precision::Fp64), 0.0);
  EXPECT_EQ(t.count(Precision::Fp32), 0u);
  EXPECT_EQ(default_threshold(Precision::Fp32), 1e-7);
  EXPECT_THROW(parse_thresholds("fp32"), c10::Error);
  EXPECT_THROW(parse_thresholds("fp32=abc"), c10::Error);
  EXPECT_THROW(parse_thresholds("fp8=1"), c10::Error);
  EXPECT_THROW(parse_thresholds("fp32=-1"), c10::Error);
}

TEST(ZonesCli, BadPairIsAOneLineError) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "c.json") << R"({"data": {"dataset": "synthetic"}, "exp": {"device": "cpu"}})";
  auto r = testing::run_tiebreak("zones " + (dir.path() / "c.json").string() + " --pair nonsmooth.bogus=0,1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--pair"), std::string::npos) << r.err;
  auto p = testing::run_tiebreak("zones " + (dir.path() / "c.json").string() +
                                 " --pair nonsmooth.beta=0,1 --precision fp12");
  EXPECT_NE(p.exit_code, 0);
  EXPECT_NE(p.err.find("fp12"), std::string::npos) << p.err;
}

TEST(ZonesRun, RealMnistLeNetVolumes) {
  TIEBREAK_REQUIRE_SHARED_DATA(images, "mnist/train-images-idx3-ubyte.gz");
  nlohmann::json j = {{"data",
                       {{"dataset", "mnist"},
                        {"root", images.parent_path().parent_path().string()},
                        {"batch_size", 64},
                        {"test_batch_size", 1000}}},
                      {"model", {{"name", "lenet5"}}},
                      {"nonsmooth", {{"formulation", "mixture"}}},
                      {"exp", {{"device", "cpu"}}}};
  j["zones"] = {{"initializations", 1}};
  auto options = beta_pair("0,1", {Precision::Fp16, Precision::Fp32, Precision::Fp64});
  options.batch_limit = 3;
  auto result = run_zones(config::config_from_json(j, "mnist-zones-test"), options);
  ASSERT_EQ(result.summaries.size(), 3u);
  for (const auto& s : result.summaries) {
    EXPECT_EQ(s.batches + s.non_finite, 3) << config::to_string(s.precision);
    EXPECT_GE(s.volume(), 0.0);
    EXPECT_LE(s.volume(), 1.0);
    EXPECT_EQ(s.bifurcation + s.compensation + s.unresolved, s.nonzero);
  }
  // fp64: the volume above the threshold is 0, as in the study. D itself is not 0: MNIST's constant
  // background ties pooling windows at a positive value in every precision, but the tied positions see
  // identical input patches, so the weight gradient is the same over the reals and D is rounding (about
  // 1e-17, far below fp64's 1e-15 threshold). fp64 has no higher precision to classify with.
  const auto& fp64 = result.summaries[2];
  EXPECT_EQ(fp64.batches, 3);
  EXPECT_EQ(fp64.nonzero, 3);
  EXPECT_EQ(fp64.above_threshold, 0);
  EXPECT_EQ(fp64.volume_above_threshold(), 0.0);
  EXPECT_EQ(fp64.unresolved, fp64.nonzero);
  // 16 bits: every mini-batch differs (the study: always 100 %); 32 bits: some do.
  const auto& fp16 = result.summaries[0];
  EXPECT_EQ(fp16.nonzero, fp16.batches);
  EXPECT_GE(result.summaries[1].nonzero, 1);
}

}  // namespace
}  // namespace tiebreak::zones
