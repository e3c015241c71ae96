#include "tiebreak/zones/probe.h"

#include "support/test_support.h"
#include "support/tiny_lenet.h"
#include "tiebreak/config/options.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/models/nonsmooth_layers.h"
#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/pooling.h"
#include "tiebreak/nn/nonsmooth.h"
#include "tiebreak/train/checkpoint.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/train/optimizer.h"
#include "tiebreak/train/trainer.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

#include <cmath>
#include <cstring>
#include <fstream>

namespace tiebreak::zones {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tiebreak::testing::error_message;
using tiebreak::testing::TempDir;

const char* const kZoneColumns[] = {
    "zone_norm",        "zone_threshold",    "zone_probes",      "zone_non_finite", "zone_above_threshold",
    "zone_volume",      "zone_volume_low",   "zone_volume_high", "zone_d_median",   "zone_d_max",
    "zone_bifurcation", "zone_compensation", "zone_unresolved",  "zone_none"};

/// The tests' tiny LeNet task with 4 mini-batches of 32 per epoch, 2 epochs.
config::LoadedConfig lenet_config(const std::vector<std::string>& overrides) {
  tiebreak::testing::TinyLenet task;
  task.train_size = 128;
  task.test_size = 64;
  return tiebreak::testing::tiny_lenet_config(task, overrides);
}

train::RunOutcome run(const config::LoadedConfig& c, const fs::path& dir,
                      const train::Components& components = train::default_components(),
                      bool resume = false) {
  train::RunOptions o;
  o.run_dir = dir;
  o.resume = resume;
  o.progress = false;
  return train_run(c, o, components);
}

/// metrics.csv without the wall-clock column and without the probe's columns.
std::string trajectory(const fs::path& dir) {
  auto table = tiebreak::read_csv(dir / "metrics.csv");
  std::string out;
  for (const auto& row : table.rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      const auto& name = table.header[i];
      if (name != "seconds" && name.rfind("zone_", 0) != 0) out += name + "=" + row[i] + ",";
    }
    out += "\n";
  }
  return out;
}

/// Parameters and buffers of the run's last checkpoint, bit for bit (as raw bytes).
std::vector<std::string> final_state(const config::LoadedConfig& c, const fs::path& dir,
                                     const train::Components& components) {
  auto data = components.make_data(c.config, config::to_data_options(c.config));
  auto model = components.make_model(c.config, *data, 0);
  model.module->to(train::plan_for(c.config.train.precision).parameter_dtype);
  auto optimizer = train::make_optimizer(c.config.train.optimizer, model.module->parameters());
  train::load_checkpoint(dir / "checkpoint.pt", {model.module.get(), optimizer.get(), nullptr});
  std::vector<std::string> bytes;
  auto tensors = model.module->parameters();
  for (const auto& b : model.module->buffers()) tensors.push_back(b);
  for (const auto& t : tensors) {
    auto c = t.contiguous().cpu();
    bytes.emplace_back(static_cast<const char*>(c.data_ptr()), c.nbytes());
  }
  return bytes;
}

/// A network with everything a probe must leave untouched: BatchNorm statistics, dropout's random draws,
/// tiebreak ReLU and MaxPool2d carrying the config's Jacobian choice.
train::Model dropout_bn_model(const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t seed) {
  torch::manual_seed(seed);
  nn::Nonsmooth policy;
  policy.beta(cfg.nonsmooth.beta).formulation(cfg.nonsmooth.formulation).relu_alpha(cfg.nonsmooth.relu_alpha);
  torch::nn::Sequential net;
  net->push_back("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)));
  net->push_back("bn", torch::nn::BatchNorm2d(4));
  net->push_back("relu", policy.make_relu());
  net->push_back("pool", policy.make_pool(2, 2));
  net->push_back("dropout", torch::nn::Dropout(0.3));
  net->push_back("flatten", torch::nn::Flatten());
  net->push_back("fc", torch::nn::Linear(4 * 4 * 4, data.num_classes()));
  return train::testing::sequential_model(net);
}

train::Components dropout_bn_components() {
  auto c = train::testing::synthetic_components();
  c.make_model = dropout_bn_model;
  return c;
}

struct IdentityCase {
  std::string name;
  std::vector<std::string> overrides;
  bool dropout_bn = false;
};

void PrintTo(const IdentityCase& c, std::ostream* os) { *os << c.name; }

class ProbeIdentity : public ::testing::TestWithParam<IdentityCase> {};

// The probe must not change the trajectory: metrics and final weights with the probe on equal those with
// it off, bit for bit, while the probe did measure something.
TEST_P(ProbeIdentity, MetricsAndWeightsAreIdenticalWithTheProbeOnAndOff) {
  const auto& param = GetParam();
  auto overrides = param.overrides;
  auto make = [&](const std::vector<std::string>& extra) {
    auto o = overrides;
    o.insert(o.end(), extra.begin(), extra.end());
    if (!param.dropout_bn) return lenet_config(o);
    auto c = train::testing::synthetic_config(o);
    return c;
  };
  const auto components = param.dropout_bn ? dropout_bn_components() : train::default_components();
  TempDir off_dir, on_dir;
  const auto off = make({});
  const auto on = make({"train.zone_probe.every=1"});
  run(off, off_dir.path(), components);
  auto outcome = run(on, on_dir.path(), components);
  ASSERT_EQ(outcome.status, train::RunStatus::Finished);
  EXPECT_EQ(trajectory(on_dir.path()), trajectory(off_dir.path()));
  EXPECT_EQ(final_state(on, on_dir.path(), components), final_state(off, off_dir.path(), components));
  for (const auto& row : outcome.rows) {
    ASSERT_TRUE(row.zone_probe.has_value());
    EXPECT_GT(row.zone_probe->probes, 0);
    EXPECT_EQ(row.zone_probe->bifurcation + row.zone_probe->compensation + row.zone_probe->unresolved +
                  row.zone_probe->none,
              row.zone_probe->finite());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ProbeIdentity,
    ::testing::Values(
        IdentityCase{"lenet5_fp32_run_beta_in_the_pair", {}},
        IdentityCase{"lenet5_fp32_beta1000_pair_without_the_run", {"nonsmooth.beta=1000"}},
        IdentityCase{"lenet5_mixture_no_tie_stats",
                     {"nonsmooth.formulation=\"mixture\"", "exp.tie_stats=false"}},
        IdentityCase{"lenet5_batch_norm_relu_pair",
                     {"model.batch_norm=true", "train.zone_probe.pair=\"nonsmooth.relu_alpha=run,1\""}},
        IdentityCase{"lenet5_fp16", {"train.precision=\"fp16\"", "train.optimizer.momentum=0"}},
        IdentityCase{"lenet5_amp_fp16_loss_scaled", {"train.precision=\"amp_fp16\""}},
        IdentityCase{"lenet5_fp64_l1", {"train.precision=\"fp64\"", "train.zone_probe.norm=\"l1\""}},
        IdentityCase{"dropout_batch_norm_beta1", {"nonsmooth.beta=1", "train.epochs=2"}, true}),
    [](const ::testing::TestParamInfo<IdentityCase>& info) { return info.param.name; });

TEST(ZoneProbe, AShortLeNetRunLogsTheColumnsAndTheStudySchemaStays) {
  TempDir dir;
  auto outcome = run(lenet_config({"train.zone_probe.every=2"}), dir.path());
  ASSERT_EQ(outcome.status, train::RunStatus::Finished);
  auto table = tiebreak::read_csv(dir / "metrics.csv");
  const int filled = table.index("filled");
  ASSERT_GE(filled, 0);
  ASSERT_EQ(table.header.size(), static_cast<size_t>(filled) + 1 + std::size(kZoneColumns));
  for (size_t k = 0; k < std::size(kZoneColumns); ++k)
    EXPECT_EQ(table.header[filled + 1 + k], kZoneColumns[k]);  // appended after the existing columns
  ASSERT_EQ(table.rows.size(), 2u);
  for (const auto& row : table.rows) {
    auto cell = [&](const char* column) { return row[table.index(column)]; };
    EXPECT_EQ(cell("zone_norm"), "linf");
    EXPECT_EQ(std::stod(cell("zone_threshold")), 1e-7);  // the study's 32-bit threshold
    EXPECT_EQ(cell("zone_probes"), "2");                 // steps 0 and 2 of 4
    const double volume = std::stod(cell("zone_volume"));
    EXPECT_GE(volume, std::stod(cell("zone_volume_low")));
    EXPECT_LE(volume, std::stod(cell("zone_volume_high")));
    EXPECT_LE(std::stod(cell("zone_d_median")), std::stod(cell("zone_d_max")));
  }
  auto study = tiebreak::read_csv(dir / "metrics_study.csv");
  EXPECT_EQ(study.header, (std::vector<std::string>{"run_id", "epoch", "train_loss", "train_accuracy",
                                                    "test_loss", "test_accuracy", "maxpool", "batch_norm"}));
}

TEST(ZoneProbe, ResumingKeepsTheProbeColumnsOfEarlierEpochs) {
  TempDir whole, parts;
  const auto c = lenet_config({"train.zone_probe.every=1", "train.epochs=3"});
  run(c, whole.path());
  run(lenet_config({"train.zone_probe.every=1", "train.epochs=3", "train.stop_after_epoch=1"}), parts.path());
  auto resumed = run(c, parts.path(), train::default_components(), /*resume=*/true);
  ASSERT_EQ(resumed.status, train::RunStatus::Finished);
  auto without_seconds = [](const fs::path& dir) {
    auto table = tiebreak::read_csv(dir / "metrics.csv");
    std::string out;
    for (const auto& row : table.rows)
      for (size_t i = 0; i < row.size(); ++i)
        if (table.header[i] != "seconds") out += row[i] + ",";
    return out;
  };
  EXPECT_EQ(without_seconds(parts.path()), without_seconds(whole.path()));
}

/// One mini-batch whose every pooling window ties: channel 0 is constant on 2x2 blocks, channel 1 is noise
/// the (zero-initialised) second conv weight hides. The tied positions see different channel-1 inputs, so
/// which one gets the gradient changes the weight gradient over the reals: a bifurcation.
std::shared_ptr<data::Dataset> tied_data() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto blocks = torch::randn({32, 1, 4, 4}, gen).repeat_interleave(2, 2).repeat_interleave(2, 3);
  auto x = torch::cat({blocks, torch::randn({32, 1, 8, 8}, gen)}, 1);
  auto y = torch::randint(0, 3, {32}, gen, torch::kLong);
  return std::make_shared<data::TensorDataset>(
      data::DataOptions("tied").train_batch_size(32).test_batch_size(32), "tied", data::ImageTensors{x, y},
      data::ImageTensors{x, y}, 3, data::Normalization{}, data::Augmentation{});
}

/// A 1x1 convolution of 2x8x8 images with the channel weights `mix` (no bias) → 2x2 pool → linear.
train::Model mixed_channels_model(const config::ExperimentConfig& cfg, const data::Dataset& data,
                                  std::array<double, 2> mix) {
  nn::Nonsmooth policy;
  policy.beta(cfg.nonsmooth.beta);
  torch::nn::Sequential net;
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 1, 1));
  {
    torch::NoGradGuard no_grad;
    conv->weight.copy_(torch::tensor({mix[0], mix[1]}).reshape({1, 2, 1, 1}));
    conv->bias.zero_();
  }
  net->push_back("conv", conv);
  net->push_back("pool", policy.make_pool(2, 2));
  net->push_back("flatten", torch::nn::Flatten());
  net->push_back("fc", torch::nn::Linear(16, data.num_classes()));
  return train::testing::sequential_model(net);
}

/// The first channel alone: the tied blocks reach the pool as they are.
train::Model tied_model(const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t) {
  return mixed_channels_model(cfg, data, {1.0, 0.0});
}

TEST(ZoneProbe, ATieHeavyBatchIsInTheBifurcationZone) {
  train::Components components;
  components.make_data = [](const config::ExperimentConfig&, const data::DataOptions&) {
    return tied_data();
  };
  components.make_model = tied_model;
  for (const char* precision : {"fp32", "fp16"}) {
    SCOPED_TRACE(precision);
    TempDir dir;
    auto c = train::testing::synthetic_config({"train.epochs=1",
                                               std::string("train.precision=\"") + precision + "\"",
                                               "train.zone_probe.every=1", "train.optimizer.momentum=0"});
    auto outcome = run(c, dir.path(), components);
    ASSERT_EQ(outcome.rows.size(), 1u);
    const auto& z = *outcome.rows[0].zone_probe;
    EXPECT_EQ(z.probes, 1);
    EXPECT_EQ(z.non_finite, 0);
    EXPECT_GT(z.median, 0.0);
    EXPECT_EQ(z.above_threshold, 1);
    EXPECT_EQ(z.bifurcation, 1);
    EXPECT_EQ(z.volume(), 1.0);
  }
}

TEST(ZoneProbe, ThresholdOverrideAndClassifyOffAreHonoured) {
  train::Components components;
  components.make_data = [](const config::ExperimentConfig&, const data::DataOptions&) {
    return tied_data();
  };
  components.make_model = tied_model;
  TempDir dir;
  auto c = train::testing::synthetic_config({"train.epochs=1", "train.zone_probe.every=1",
                                             "train.zone_probe.threshold=1e300",
                                             "train.zone_probe.classify=false"});
  auto outcome = run(c, dir.path(), components);
  const auto& z = *outcome.rows[0].zone_probe;
  EXPECT_EQ(z.threshold, 1e300);
  EXPECT_EQ(z.above_threshold, 0);
  EXPECT_EQ(z.volume(), 0.0);
  EXPECT_EQ(z.unresolved, 1);  // D > 0, not classified
}

TEST(ZoneProbe, APairNoLayerCarriesIsAOneLineError) {
  TempDir dir;
  // The synthetic model is built from torch::nn layers: no tiebreak layer carries β.
  auto c = train::testing::synthetic_config({"train.zone_probe.every=1"});
  const auto message = error_message([&] { run(c, dir.path(), train::testing::synthetic_components()); });
  EXPECT_THAT(message, HasSubstr("train.zone_probe.pair: nonsmooth.beta changes no layer of model"));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

/// The D and zones a probe measured over a short training run, and what it computed.
struct ProbeTrace {
  std::vector<double> discrepancies;
  std::vector<Zone> zones;
  ZoneProbe::Work work;
};

/// Trains `epochs` epochs of `loaded` with train_step and a ZoneProbe of its train.zone_probe section, the
/// short way or the long way (ZoneProbeOptions::shortcuts).
ProbeTrace trace_probe(const config::LoadedConfig& loaded, const train::Components& components,
                       bool shortcuts) {
  const auto& cfg = loaded.config;
  const c10::Device device(c10::kCPU);
  at::set_num_threads(1);  // as the trainer runs the tests' configs (exp.threads = 1)
  const auto plan = train::plan_for(cfg.train.precision, cfg.train.half_compute);
  auto data = components.make_data(cfg, config::to_data_options(cfg, 0, device, plan.parameter_dtype));
  torch::manual_seed(0);  // for models that draw their weights from the global generator (tied_model)
  auto model = components.make_model(cfg, *data, 0);
  model.module->to(device, plan.parameter_dtype);
  model.module->train();
  auto optimizer = train::make_optimizer(cfg.train.optimizer, model.module->parameters());
  std::unique_ptr<train::DynamicLossScaler> scaler;
  if (plan.loss_scaling) scaler = std::make_unique<train::DynamicLossScaler>(cfg.train.loss_scale, device);
  ZoneProbe probe(ZoneProbeOptions::from_config(cfg.train.zone_probe).shortcuts(shortcuts), cfg, model, plan,
                  device, [&] { return components.make_model(cfg, *data, 0); });
  ProbeTrace trace;
  for (int64_t epoch = 0; epoch < cfg.train.epochs; ++epoch) {
    probe.start_epoch();
    auto stream = data->epoch(data::Split::Train, epoch);
    while (auto batch = stream->next())
      train::train_step(model, *optimizer, plan, device, *batch, scaler.get(), nullptr, &probe);
    const auto& d = probe.discrepancies();
    trace.discrepancies.insert(trace.discrepancies.end(), d.begin(), d.end());
    trace.zones.insert(trace.zones.end(), probe.zones().begin(), probe.zones().end());
    trace.work.reused_backwards += probe.work().reused_backwards;
    trace.work.repeated_steps += probe.work().repeated_steps;
    trace.work.fp64_forwards += probe.work().fp64_forwards;
    trace.work.fp64_layer_calls += probe.work().fp64_layer_calls;
    trace.work.fp64_rows += probe.work().fp64_rows;
  }
  return trace;
}

/// Bit for bit, except that every NaN equals every NaN (a NaN's payload is not a measurement).
bool same_bits(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof a) == 0;
}

struct ShortcutCase {
  std::string name;
  std::function<config::LoadedConfig()> config;
  std::function<train::Components()> components;
  /// Whether the other choice's gradient can come from the run's own graph.
  bool reusable;
  /// Whether the model's fp64 forward keeps the rows apart up to its recorded layers (no batch norm).
  bool rows_apart = true;
  /// The pooling layers of the model, when the fp64 forward should stop before the last one.
  int64_t stops_before_pools = 0;
};

void PrintTo(const ShortcutCase& c, std::ostream* os) { *os << c.name; }

class ProbeShortcuts : public ::testing::TestWithParam<ShortcutCase> {};

// The shortcuts (the backward through the run's own graph, D∞ in the gradients' dtype, the fp64 forward
// stopped once the zone is decided) measure exactly what the long way does: the same D bit for bit, the
// same zones, probe after probe.
TEST_P(ProbeShortcuts, MeasureTheSameDAndZonesAsTheLongWay) {
  const auto& param = GetParam();
  const auto loaded = param.config();
  const auto components = param.components();
  const auto fast = trace_probe(loaded, components, /*shortcuts=*/true);
  const auto slow = trace_probe(loaded, components, /*shortcuts=*/false);
  ASSERT_FALSE(slow.discrepancies.empty());
  ASSERT_EQ(fast.discrepancies.size(), slow.discrepancies.size());
  for (size_t k = 0; k < slow.discrepancies.size(); ++k)
    EXPECT_TRUE(same_bits(fast.discrepancies[k], slow.discrepancies[k]))
        << "probe " << k << ": " << fast.discrepancies[k] << " vs " << slow.discrepancies[k];
  EXPECT_EQ(fast.zones, slow.zones);
  // The long way repeats every step and runs every fp64 forward to its end.
  EXPECT_EQ(slow.work.reused_backwards, 0);
  EXPECT_GT(slow.work.repeated_steps, 0);
  if (param.reusable) {
    EXPECT_EQ(fast.work.repeated_steps, 0);
    EXPECT_EQ(fast.work.reused_backwards, slow.work.repeated_steps);
  } else {
    EXPECT_EQ(fast.work.reused_backwards, 0);
    EXPECT_EQ(fast.work.repeated_steps, slow.work.repeated_steps);
  }
  // The fp64 forwards computed fewer rows: one row with a tie (then the other rows with ties when that one
  // did not decide) where the rows are separable; where they are not (batch norm), the whole batch after
  // one row that found out.
  if (slow.work.fp64_forwards > 0) {
    if (param.rows_apart) {
      EXPECT_LT(fast.work.fp64_rows, slow.work.fp64_rows);
    } else {
      EXPECT_LE(fast.work.fp64_rows, slow.work.fp64_rows + 1);
      EXPECT_LE(fast.work.fp64_forwards, slow.work.fp64_forwards + 1);
    }
  }
  if (param.stops_before_pools > 0) {
    // The fp64 forward stops at the pool that decides (VGG11: its first, with the background's and the
    // ReLUs' exact ties surviving) instead of running through all of them.
    ASSERT_GT(slow.work.fp64_forwards, 0);
    EXPECT_EQ(slow.work.fp64_layer_calls, param.stops_before_pools * slow.work.fp64_forwards);
    EXPECT_LT(fast.work.fp64_layer_calls, slow.work.fp64_layer_calls);
  }
}

config::LoadedConfig tied_config(const std::string& precision) {
  return train::testing::synthetic_config({"train.epochs=2", "train.precision=\"" + precision + "\"",
                                           "train.zone_probe.every=1", "train.optimizer.momentum=0"});
}

train::Components tied_components() {
  train::Components components;
  components.make_data = [](const config::ExperimentConfig&, const data::DataOptions&) {
    return tied_data();
  };
  components.make_model = tied_model;
  return components;
}

/// VGG11 (five pools, eight ReLUs: layers for the fp64 forward to skip) on 3x32x32 images that are zero
/// but for a random 12x12 patch, like MNIST's background: windows inside the background tie on equal
/// positive values, so D > 0 and the probes are classified.
config::LoadedConfig vgg_config(const std::vector<std::string>& overrides) {
  tiebreak::testing::TinyLenet task;
  task.batch_size = 8;
  auto o = std::vector<std::string>{"model.name=\"vgg11\"", "train.zone_probe.every=1", "train.epochs=1"};
  o.insert(o.end(), overrides.begin(), overrides.end());
  return tiebreak::testing::tiny_lenet_config(task, o);
}

train::Components vgg_components() {
  auto components = train::default_components();
  components.make_data = [](const config::ExperimentConfig& cfg, data::DataOptions options) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    auto x = torch::zeros({24, 3, 32, 32});
    x.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(10, 22),
                  torch::indexing::Slice(10, 22)},
                 torch::randn({24, 3, 12, 12}, gen));
    auto y = torch::randint(0, 3, {24}, gen, torch::kLong);
    options.test_batch_size(cfg.data.batch_size);
    return std::make_shared<data::TensorDataset>(options, "blobs", data::ImageTensors{x, y},
                                                 data::ImageTensors{x, y}, 3, data::Normalization{},
                                                 data::Augmentation{});
  };
  return components;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ProbeShortcuts,
    ::testing::Values(
        ShortcutCase{"tie_heavy_fp32", [] { return tied_config("fp32"); }, tied_components, true},
        ShortcutCase{"tie_heavy_fp16", [] { return tied_config("fp16"); }, tied_components, true},
        ShortcutCase{"lenet5_fp32", [] { return lenet_config({"train.zone_probe.every=1"}); },
                     train::default_components, true},
        ShortcutCase{"lenet5_beta1000_both_sides_switched",
                     [] {
                       return lenet_config({"train.zone_probe.every=1", "nonsmooth.beta=1000"});
                     },
                     train::default_components, true},
        ShortcutCase{"lenet5_mixture_repeats_the_forward",
                     [] {
                       return lenet_config({"train.zone_probe.every=1", "nonsmooth.formulation=\"mixture\""});
                     },
                     train::default_components, false},
        ShortcutCase{"lenet5_batch_norm_relu_pair",
                     [] {
                       return lenet_config({"train.zone_probe.every=1", "model.batch_norm=true",
                                            "train.zone_probe.pair=\"nonsmooth.relu_alpha=run,1\""});
                     },
                     train::default_components, true, false},
        ShortcutCase{"lenet5_l1",
                     [] {
                       return lenet_config({"train.zone_probe.every=1", "train.zone_probe.norm=\"l1\""});
                     },
                     train::default_components, true},
        ShortcutCase{"lenet5_fp16",
                     [] {
                       return lenet_config({"train.zone_probe.every=1", "train.precision=\"fp16\""});
                     },
                     train::default_components, true},
        ShortcutCase{"lenet5_amp_fp16_loss_scaled",
                     [] {
                       return lenet_config({"train.zone_probe.every=1", "train.precision=\"amp_fp16\""});
                     },
                     train::default_components, true},
        ShortcutCase{"vgg11_fp32", [] { return vgg_config({}); }, vgg_components, true, true, 5}),
    [](const ::testing::TestParamInfo<ShortcutCase>& info) { return info.param.name; });

// A network whose fp64 forward cannot run on one row (BatchNorm1d without running statistics needs two in
// training, and says so before calling any operator) falls back to the whole batch after that one try,
// and classifies as the long way does.
TEST(ZoneProbe, AForwardThatCannotRunOnOneRowIsClassifiedOnTheWholeBatch) {
  auto components = tied_components();
  components.make_model = [](const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t) {
    nn::Nonsmooth policy;
    policy.relu_alpha(cfg.nonsmooth.relu_alpha);
    torch::nn::Sequential net;
    torch::nn::Linear linear(2 * 8 * 8, 8);
    {
      // A dead unit: its input to the ReLU is exactly 0 in every precision, a tie of ReLU'(0).
      torch::NoGradGuard no_grad;
      linear->weight[0].zero_();
      linear->bias[0].zero_();
    }
    net->push_back("flatten", torch::nn::Flatten());
    net->push_back(
        "bn", torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(2 * 8 * 8).track_running_stats(false)));
    net->push_back("fc1", linear);
    net->push_back("relu", policy.make_relu());
    net->push_back("fc2", torch::nn::Linear(8, data.num_classes()));
    return train::testing::sequential_model(net);
  };
  auto loaded = train::testing::synthetic_config({"train.epochs=1", "train.zone_probe.every=1",
                                                  "train.optimizer.momentum=0",
                                                  "train.zone_probe.pair=\"nonsmooth.relu_alpha=0,1\""});
  const auto fast = trace_probe(loaded, components, /*shortcuts=*/true);
  const auto slow = trace_probe(loaded, components, /*shortcuts=*/false);
  ASSERT_GT(slow.work.fp64_forwards, 0);
  EXPECT_EQ(fast.zones, slow.zones);
  EXPECT_EQ(fast.work.fp64_forwards, slow.work.fp64_forwards + 1);
  EXPECT_EQ(fast.work.fp64_rows, slow.work.fp64_rows + 1);
}

/// Images of 2x8x8 that a 1x1 convolution adding the two channels and a 2x2 pool see with distinct values
/// in every window but the first, which is, per `kind`: 'c' four equal values in fp32 whose tie fp64
/// breaks (1 + 1e-8 rounds to 1 in fp32), 'b' four equal values in every precision, 'n' no tie.
std::shared_ptr<data::Dataset> first_window_data(const std::string& kinds) {
  const auto n = static_cast<int64_t>(kinds.size());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
  auto x = torch::zeros({n, 2, 8, 8});
  x.select(1, 0).copy_(torch::rand({n, 8, 8}, gen) + 2);
  for (int64_t k = 0; k < n; ++k) {
    if (kinds[k] == 'n') continue;
    x[k][0].slice(0, 0, 2).slice(1, 0, 2).fill_(1.0);
    if (kinds[k] == 'c') x[k][1][0][1] = 1e-8;
  }
  auto y = torch::arange(n, torch::kLong) % 3;
  return std::make_shared<data::TensorDataset>(
      data::DataOptions("first-window").train_batch_size(n).test_batch_size(n).shuffle(false), "first-window",
      data::ImageTensors{x, y}, data::ImageTensors{x, y}, 3, data::Normalization{}, data::Augmentation{});
}

train::Components first_window_components(const std::string& kinds) {
  train::Components components;
  components.make_data = [kinds](const config::ExperimentConfig&, const data::DataOptions&) {
    return first_window_data(kinds);
  };
  // The sum of the channels: 1 + 1e-8 meets 1 at the pool.
  components.make_model = [](const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t) {
    return mixed_channels_model(cfg, data, {1.0, 1.0});
  };
  return components;
}

// The rows of the fp64 forward: the first image with a tie, then the other images with ties when the
// first did not decide, and a zone assembled from both that is the long way's.
TEST(ZoneProbe, TheFp64ForwardGoesOnToTheOtherTiedImagesWhenTheFirstDoesNotDecide) {
  const auto loaded = train::testing::synthetic_config(
      {"train.epochs=1", "train.zone_probe.every=1", "train.optimizer.momentum=0"});
  struct Case {
    std::string kinds;
    Zone zone;
    int64_t forwards, rows;
  };
  // c: the first tied image's tie is rounding (compensation so far); b: a real tie in a later image.
  for (const auto& c : std::vector<Case>{{"cnb", Zone::Bifurcation, 2, 2},
                                         {"cnc", Zone::Compensation, 2, 2},
                                         {"ncn", Zone::Compensation, 1, 1},
                                         {"bnc", Zone::Bifurcation, 1, 1}}) {
    SCOPED_TRACE(c.kinds);
    const auto fast = trace_probe(loaded, first_window_components(c.kinds), /*shortcuts=*/true);
    const auto slow = trace_probe(loaded, first_window_components(c.kinds), /*shortcuts=*/false);
    ASSERT_EQ(fast.discrepancies.size(), 1u);
    EXPECT_GT(fast.discrepancies[0], 0.0);
    ASSERT_EQ(fast.zones.size(), 1u);
    EXPECT_EQ(fast.zones[0], c.zone);
    EXPECT_EQ(slow.zones, fast.zones);
    EXPECT_EQ(fast.work.fp64_forwards, c.forwards);
    EXPECT_EQ(fast.work.fp64_rows, c.rows);
    EXPECT_EQ(slow.work.fp64_rows, static_cast<int64_t>(c.kinds.size()));
  }
}

TEST(ZoneProbe, TheShortcutsMeasureTheLongWaysDOnRealMnist) {
  TIEBREAK_REQUIRE_SHARED_DATA(images, "mnist/train-images-idx3-ubyte.gz");
  nlohmann::json j = {{"data",
                       {{"dataset", "mnist"},
                        {"root", images.parent_path().parent_path().string()},
                        {"batch_size", 64},
                        {"train_limit", 384},
                        {"test_batch_size", 1000},
                        {"test_limit", 1000}}},
                      {"model", {{"name", "lenet5"}}},
                      {"train", {{"precision", "fp32"}, {"epochs", 1}, {"zone_probe", {{"every", 1}}}}},
                      {"exp", {{"device", "cpu"}, {"deterministic", true}}}};
  const auto loaded = config::config_from_json(j, "mnist-probe-shortcuts-test");
  const auto fast = trace_probe(loaded, train::default_components(), /*shortcuts=*/true);
  const auto slow = trace_probe(loaded, train::default_components(), /*shortcuts=*/false);
  ASSERT_EQ(slow.discrepancies.size(), 6u);
  ASSERT_EQ(fast.discrepancies.size(), 6u);
  for (size_t k = 0; k < 6; ++k) EXPECT_TRUE(same_bits(fast.discrepancies[k], slow.discrepancies[k])) << k;
  EXPECT_EQ(fast.zones, slow.zones);
  EXPECT_EQ(fast.work.repeated_steps, 0);
  // MNIST's background ties pooling windows in every image: one row decides each probe.
  EXPECT_EQ(fast.work.fp64_rows, fast.work.fp64_forwards);
  EXPECT_LT(fast.work.fp64_rows, slow.work.fp64_rows);
}

TEST(ZoneProbe, Fp64OnRealMnistHasNoVolumeAboveThreshold) {
  TIEBREAK_REQUIRE_SHARED_DATA(images, "mnist/train-images-idx3-ubyte.gz");
  nlohmann::json j = {{"data",
                       {{"dataset", "mnist"},
                        {"root", images.parent_path().parent_path().string()},
                        {"batch_size", 64},
                        {"train_limit", 256},
                        {"test_batch_size", 1000},
                        {"test_limit", 1000}}},
                      {"model", {{"name", "lenet5"}}},
                      {"train", {{"precision", "fp64"}, {"epochs", 1}, {"zone_probe", {{"every", 1}}}}},
                      {"exp", {{"device", "cpu"}, {"deterministic", true}}}};
  TempDir dir;
  auto outcome = run(config::config_from_json(j, "mnist-probe-test"), dir.path());
  ASSERT_EQ(outcome.status, train::RunStatus::Finished);
  const auto& z = *outcome.rows[0].zone_probe;
  EXPECT_EQ(z.probes, 4);
  EXPECT_EQ(z.non_finite, 0);
  EXPECT_EQ(z.threshold, 1e-15);
  // As `tiebreak zones` measures at 64 bits: D is rounding (MNIST's constant background ties windows whose
  // positions see identical patches), never above the threshold; fp64 cannot be classified.
  EXPECT_EQ(z.above_threshold, 0);
  EXPECT_EQ(z.volume(), 0.0);
  EXPECT_LT(z.max, 1e-15);
  EXPECT_EQ(z.bifurcation + z.compensation, 0);
  EXPECT_EQ(z.unresolved + z.none, 4);
}

}  // namespace
}  // namespace tiebreak::zones
