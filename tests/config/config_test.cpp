#include "tiebreak/config/config.h"

#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace tiebreak::config {
namespace {

using ::testing::HasSubstr;
using tiebreak::testing::TempDir;

void write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string error_of(const std::filesystem::path& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_config(path, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Config, EmptyObjectGivesDefaults) {
  TempDir dir;
  write(dir / "c.json", "{}");
  auto loaded = load_config(dir / "c.json");
  EXPECT_EQ(loaded.config.data.dataset, "mnist");
  EXPECT_EQ(loaded.config.train.precision, Precision::Fp32);
  EXPECT_EQ(loaded.config.train.optimizer.name, OptimizerKind::Sgd);
  EXPECT_DOUBLE_EQ(loaded.config.train.optimizer.lr, 0.01);
  EXPECT_EQ(loaded.json["train"]["optimizer"]["name"], "sgd");
  EXPECT_TRUE(loaded.json["exp"].contains("deterministic"));
}

TEST(Config, ZoneProbeIsOffByDefaultAndRoundTrips) {
  auto off = config_from_json(nlohmann::json::object());
  EXPECT_EQ(off.config.train.zone_probe.every, 0);
  EXPECT_EQ(off.config.train.zone_probe.pair, "nonsmooth.beta=0,1");
  EXPECT_EQ(off.config.train.zone_probe.norm, zones::DiscrepancyNorm::Linf);
  EXPECT_LT(off.config.train.zone_probe.threshold, 0);  // the precision's default
  EXPECT_TRUE(off.json["train"]["zone_probe"]["threshold"].is_null());
  auto on = config_from_json(nlohmann::json::parse(
      R"({"train": {"zone_probe": {"every": 10, "pair": "nonsmooth.beta=run, 0", "norm": "l1",
                                   "threshold": 1e-6, "classify": false}}})"));
  const auto& z = on.config.train.zone_probe;
  EXPECT_EQ(z.every, 10);
  EXPECT_EQ(z.pair, "nonsmooth.beta=run, 0");
  EXPECT_EQ(z.norm, zones::DiscrepancyNorm::L1);
  EXPECT_EQ(z.threshold, 1e-6);
  EXPECT_FALSE(z.classify);
  EXPECT_EQ(config_from_json(on.json).json, on.json);
  EXPECT_EQ(
      config_from_json(nlohmann::json::parse(
                           R"({"train": {"zone_probe": {"pair": "nonsmooth.formulation=run,mixture"}}})"))
          .config.train.zone_probe.pair,
      "nonsmooth.formulation=run,mixture");
}

TEST(Config, OptimizerDefaultsDependOnTheOptimizer) {
  TempDir dir;
  write(dir / "c.json", R"({"train": {"optimizer": {"name": "innaprop"}}})");
  auto c = load_config(dir / "c.json").config.train.optimizer;
  EXPECT_DOUBLE_EQ(c.lr, 1e-3);
  EXPECT_DOUBLE_EQ(c.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(c.alpha, 0.1);
  EXPECT_DOUBLE_EQ(c.beta, 0.9);
  EXPECT_DOUBLE_EQ(c.sigma, 0.999);
}

TEST(Config, JsonRoundTrip) {
  TempDir dir;
  write(dir / "c.json", R"({"model": {"name": "vgg11", "batch_norm": true},
      "nonsmooth": {"beta": 1000, "formulation": "mixture"},
      "train": {"precision": "amp_fp16", "half_compute": "native", "optimizer": {"name": "adam", "betas": [0.8, 0.99]},
                "schedule": {"name": "cosine"}, "epochs": 7, "seed": 12},
      "data": {"files": {"train": ["/x/y.gz", "z.gz"]}, "synthetic": {"shape": [3, 8, 8]}}})");
  auto loaded = load_config(dir / "c.json");
  auto again = config_from_json(loaded.json, "config.json");
  EXPECT_EQ(again.json, loaded.json);
  // What the file says reaches the typed config, through the JSON written as config.json.
  EXPECT_EQ(again.config.model.name, "vgg11");
  EXPECT_TRUE(again.config.model.batch_norm);
  EXPECT_EQ(again.config.nonsmooth.beta, 1000);
  EXPECT_EQ(again.config.nonsmooth.formulation, ops::PoolFormulation::Mixture);
  EXPECT_EQ(again.config.train.optimizer.name, OptimizerKind::Adam);
  EXPECT_EQ(again.config.train.schedule.name, ScheduleKind::Cosine);
  EXPECT_EQ(again.config.train.epochs, 7);
  EXPECT_EQ(again.config.train.seed, 12u);
  EXPECT_EQ(again.config.train.optimizer.betas[0], 0.8);
  EXPECT_EQ(again.config.data.files.train, (std::vector<std::string>{"/x/y.gz", "z.gz"}));
  EXPECT_EQ(again.config.data.synthetic.shape, (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ(again.config.train.precision, Precision::AmpFp16);
  EXPECT_EQ(again.config.train.half_compute, HalfCompute::Native);
  EXPECT_EQ(config_from_json(nlohmann::json::object()).config.train.half_compute, HalfCompute::Auto);
}

TEST(Config, StudyFieldsParseAndRoundTrip) {
  TempDir dir;
  write(dir / "c.json", R"({"data": {"shuffle": false},
      "model": {"name": "densenet121", "variant": "study", "init": "torchvision_densenet", "stem": "imagenet"},
      "nonsmooth": {"relu_alpha": 0.5, "grad_at_zero": 1, "pool": "normpool"},
      "train": {"seeding": "independent"},
      "sweep": {"grid": {"nonsmooth.beta": [0, 1, 10000], "train.precision": ["fp16", "fp32"]}},
      "zones": {"initializations": 7, "initializations_fp64": 2}})");
  auto loaded = load_config(dir / "c.json");
  auto again = config_from_json(loaded.json, "config.json");
  EXPECT_EQ(again.json, loaded.json);
  const auto& c = again.config;
  EXPECT_FALSE(c.data.shuffle);
  EXPECT_EQ(c.model.variant, models::ModelVariant::Study);
  EXPECT_EQ(c.model.init, models::InitScheme::TorchvisionDenseNet);
  EXPECT_EQ(c.nonsmooth.relu_alpha, 0.5);
  EXPECT_EQ(c.nonsmooth.grad_at_zero, 1.0);
  EXPECT_EQ(c.nonsmooth.pool, nn::PoolKind::NormPool);
  EXPECT_EQ(c.train.seeding, config::Seeding::Independent);
  EXPECT_EQ(c.zones.initializations, 7);
  EXPECT_EQ(c.zones.initializations_fp64, 2);
  ASSERT_EQ(c.sweep.grid.size(), 2u);
  EXPECT_EQ(c.sweep.grid[0].first, "nonsmooth.beta");
  EXPECT_EQ(c.sweep.grid[0].second, (std::vector<nlohmann::json>{0, 1, 10000}));
  EXPECT_EQ(c.sweep.grid[1].second, (std::vector<nlohmann::json>{"fp16", "fp32"}));

  // The defaults: shuffled, torchvision's build, paired seeds, the study's 100 initializations, no grid.
  write(dir / "d.json", "{}");
  const auto d = load_config(dir / "d.json").config;
  EXPECT_TRUE(d.data.shuffle);
  EXPECT_EQ(d.model.variant, models::ModelVariant::Torchvision);
  EXPECT_EQ(d.train.seeding, config::Seeding::Paired);
  EXPECT_EQ(d.zones.initializations, 100);
  EXPECT_EQ(d.zones.initializations_fp64, 1);
  EXPECT_TRUE(d.sweep.grid.empty());
}

TEST(Config, ExtendsChainsRelativeToEachFileWithDeepMerge) {
  TempDir dir;
  write(dir / "base" / "root.json",
        R"({"train": {"epochs": 5, "optimizer": {"name": "sgd", "lr": 0.5, "momentum": 0.9}},
                                         "model": {"name": "vgg11"}})");
  write(dir / "base" / "mid.json", R"({"extends": "root.json", "train": {"optimizer": {"lr": 0.1}}})");
  write(dir / "exp" / "leaf.json", R"({"extends": "../base/mid.json", "train": {"epochs": 9}})");
  auto c = load_config(dir / "exp" / "leaf.json").config;
  EXPECT_EQ(c.train.epochs, 9);
  EXPECT_DOUBLE_EQ(c.train.optimizer.lr, 0.1);
  EXPECT_DOUBLE_EQ(c.train.optimizer.momentum, 0.9);
  EXPECT_EQ(c.model.name, "vgg11");
}

TEST(Config, ExtendsCycleAndMissingFileAreErrors) {
  TempDir dir;
  write(dir / "a.json", R"({"extends": "b.json"})");
  write(dir / "b.json", R"({"extends": "a.json"})");
  EXPECT_THAT(error_of(dir / "a.json"), HasSubstr("cycle"));
  write(dir / "c.json", R"({"extends": "nope.json"})");
  EXPECT_THAT(error_of(dir / "c.json"), HasSubstr("nope.json"));
}

TEST(Config, SetOverridesParseJsonElseString) {
  TempDir dir;
  write(dir / "c.json", R"({"train": {"optimizer": {"lr": 0.5}}})");
  auto c = load_config(dir / "c.json", {"train.optimizer.lr=0.01", "model.name=resnet18",
                                        "model.batch_norm=true", "train.optimizer.betas=[0.5,0.6]"})
               .config;
  EXPECT_DOUBLE_EQ(c.train.optimizer.lr, 0.01);
  EXPECT_EQ(c.model.name, "resnet18");
  EXPECT_TRUE(c.model.batch_norm);
  EXPECT_DOUBLE_EQ(c.train.optimizer.betas[1], 0.6);
}

TEST(Config, OverrideErrorsNameTheOverride) {
  TempDir dir;
  write(dir / "c.json", "{}");
  EXPECT_THAT(
      error_of(dir / "c.json", {"train.optimizer.lr=-1"}),
      HasSubstr("override train.optimizer.lr=-1: train.optimizer.lr: expected a positive number, got -1"));
  EXPECT_THAT(error_of(dir / "c.json", {"novalue"}), HasSubstr("expected key=value"));
  EXPECT_THAT(
      error_of(dir / "c.json", {"train.epochs.x=1"}),
      HasSubstr("override train.epochs.x=1: train.epochs: expected a positive integer, got {\"x\":1}"));
  write(dir / "d.json", R"({"train": {"epochs": 3}})");
  EXPECT_THAT(error_of(dir / "d.json", {"train.epochs.x=1"}), HasSubstr("'train.epochs' is not an object"));
  // The library names the override, not a command-line flag; a front end spells it from the parts (the CLI:
  // "--set KEY=VALUE: DETAIL", cli_test).
  try {
    load_config(dir / "c.json", {"train.optimizer.lr=-1"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.override_assignment(), "train.optimizer.lr=-1");
    EXPECT_EQ(e.detail(), "train.optimizer.lr: expected a positive number, got -1");
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("--")));
  }
  // An error in a file's value names the file and no override.
  write(dir / "e.json", R"({"train": {"epochs": 0}})");
  try {
    load_config(dir / "e.json", {"train.optimizer.lr=0.5"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.override_assignment(), "");
    EXPECT_THAT(e.what(),
                HasSubstr((dir / "e.json").string() + ": train.epochs: expected a positive integer"));
  }
}

struct BadCase {
  std::string json;
  std::string message;
};

// gtest (and ctest's test names) print the parameter with this instead of its raw bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.message; }

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, IsRejectedWithFileAndPath) {
  TempDir dir;
  const auto path = dir / "x.json";
  write(path, GetParam().json);
  std::string error = error_of(path);
  EXPECT_THAT(error, HasSubstr(path.string() + ": " + GetParam().message));
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfig,
    ::testing::Values(
        BadCase{R"({"train": {"optimizer": {"lr": -1}}})",
                "train.optimizer.lr: expected a positive number, got -1"},
        BadCase{R"({"train": {"optmizer": {}}})", "train.optmizer: unknown key"},
        BadCase{R"({"extra": 1})", "extra: unknown key"},
        BadCase{R"({"train": {"epochs": 1.5}})", "train.epochs: expected a positive integer, got 1.5"},
        BadCase{R"({"train": {"epochs": 0}})", "train.epochs: expected a positive integer, got 0"},
        BadCase{R"({"train": {"epochs": "ten"}})", "train.epochs: expected a positive integer, got \"ten\""},
        BadCase{R"({"train": {"precision": "fp8"}})", "train.precision: expected one of fp16|fp32|fp64|bf16"},
        BadCase{R"({"train": {"half_compute": "fp16"}})",
                "train.half_compute: expected one of auto|fp32_accumulate|native, got \"fp16\""},
        BadCase{R"({"model": {"batch_norm": "yes"}})", "model.batch_norm: expected true or false"},
        BadCase{R"({"model": 3})", "model: expected an object, got 3"},
        BadCase{R"({"nonsmooth": {"beta": "big"}})", "nonsmooth.beta: expected a finite number"},
        BadCase{R"({"nonsmooth": {"pool": "avgpool"}})", "nonsmooth.pool: expected one of maxpool|normpool"},
        BadCase{R"({"exp": {"device": "gpu"}})", "exp.device: expected auto, cpu or cuda:N"},
        BadCase{R"({"exp": {"distributed": {"backend": "mpi"}}})",
                "exp.distributed.backend: expected one of auto|gloo|nccl, got \"mpi\""},
        BadCase{R"({"exp": {"distributed": {"timeout_seconds": 0}}})",
                "exp.distributed.timeout_seconds: expected a positive number of seconds, got 0"},
        BadCase{R"({"exp": {"distributed": {"sync_bn": true}}})", "exp.distributed.sync_bn: unknown key"},
        BadCase{R"({"data": {"crop_size": 0}})", "data.crop_size: expected a positive integer, got 0"},
        BadCase{R"({"train": {"optimizer": {"momentum": 1.0}}})",
                "train.optimizer.momentum: expected a number in [0, 1)"},
        BadCase{R"({"train": {"optimizer": {"betas": [0.9]}}})",
                "train.optimizer.betas: expected two numbers in [0, 1)"},
        BadCase{R"({"train": {"optimizer": {"name": "innaprop", "lr": 1.0}}})",
                "train.optimizer.lr: expected less than train.optimizer.beta (0.9) for innaprop, got 1"},
        BadCase{R"({"train": {"optimizer": {"nesterov": true}}})",
                "train.optimizer.nesterov: Nesterov momentum needs"},
        BadCase{R"({"train": {"schedule": {"name": "step", "step_size": 0}}})",
                "train.schedule.step_size: expected a positive integer, got 0"},
        BadCase{R"({"data": {"batch_size": -2}})", "data.batch_size: expected a positive integer, got -2"},
        BadCase{R"({"data": {"files": {"train": "a.gz"}}})",
                "data.files.train: expected a list of path strings"},
        BadCase{R"({"data": {"files": {"valid": []}}})", "data.files.valid: unknown key"},
        BadCase{R"({"data": {"synthetic": {"shape": [1, 0, 2]}}})",
                "data.synthetic.shape: expected [channels"},
        BadCase{R"({"model": {"stem_pool": {"kernel": 2, "padding": 2}}})",
                "model.stem_pool.padding: expected at most half the kernel (2), got 2"},
        BadCase{
            R"({"model": {"init": "xavier"}})",
            "model.init: expected one of pytorch_default|kaiming|torchvision_resnet|torchvision_densenet"},
        BadCase{R"({"model": {"variant": "timm"}})", "model.variant: expected one of torchvision|study"},
        BadCase{R"({"data": {"shuffle": 0}})", "data.shuffle: expected true or false, got 0"},
        BadCase{R"({"train": {"seeding": "random"}})", "train.seeding: expected one of paired|independent"},
        BadCase{R"({"zones": {"initializations": 0}})",
                "zones.initializations: expected a positive integer, got 0"},
        BadCase{R"({"zones": {"inits": 3}})", "zones.inits: unknown key"},
        BadCase{R"({"train": {"zone_probe": {"every": -1}}})",
                "train.zone_probe.every: expected a non-negative integer (0 = off), got -1"},
        BadCase{R"({"train": {"zone_probe": {"pair": "nonsmooth.pool=maxpool,normpool"}}})",
                "train.zone_probe.pair: expected KEY=A,B with KEY one of nonsmooth.beta"},
        BadCase{R"({"train": {"zone_probe": {"pair": "beta=0,1"}}})",
                "train.zone_probe.pair: expected KEY=A,B with KEY one of nonsmooth.beta"},
        BadCase{
            R"({"train": {"zone_probe": {"pair": "nonsmooth.beta=0"}}})",
            "train.zone_probe.pair: expected two different values of nonsmooth.beta (finite numbers or run)"},
        BadCase{R"({"train": {"zone_probe": {"pair": "nonsmooth.beta=0,big"}}})",
                "train.zone_probe.pair: expected two different values of nonsmooth.beta"},
        BadCase{R"({"train": {"zone_probe": {"pair": "nonsmooth.beta=1,1e999"}}})",
                "train.zone_probe.pair: expected two different values of nonsmooth.beta"},
        BadCase{
            R"({"train": {"zone_probe": {"pair": "nonsmooth.formulation=pure,exact"}}})",
            "train.zone_probe.pair: expected two different values of nonsmooth.formulation (pure, mixture "
            "or run)"},
        BadCase{R"({"train": {"zone_probe": {"norm": "l2"}}})",
                "train.zone_probe.norm: expected one of linf|l1, got \"l2\""},
        BadCase{R"({"train": {"zone_probe": {"threshold": -1e-7}}})",
                "train.zone_probe.threshold: expected a finite number >= 0, or null"},
        BadCase{R"({"train": {"zone_probe": {"threshold": "1e-7"}}})",
                "train.zone_probe.threshold: expected a finite number >= 0, or null"},
        BadCase{R"({"train": {"zone_probe": {"evry": 10}}})", "train.zone_probe.evry: unknown key"},
        BadCase{R"({"sweep": {"grid": {"nonsmooth.beta": []}}})",
                "sweep.grid.nonsmooth.beta: expected a non-empty list of values"},
        BadCase{R"({"sweep": {"grid": {"nonsmooth.bta": [0, 1]}}})",
                "sweep.grid.nonsmooth.bta: expected a config key such as nonsmooth.beta"},
        BadCase{R"({"sweep": {"grid": [0, 1]}})",
                "sweep.grid: expected an object of dotted keys and value lists"},
        BadCase{R"([1, 2])", "expected a JSON object at the top level"},
        BadCase{R"({"train": )", "invalid JSON: "}));

TEST(Config, ErrorNamesTheFileTheBadValueCameFrom) {
  TempDir dir;
  write(dir / "base.json", R"({"train": {"optimizer": {"lr": -3}}})");
  write(dir / "leaf.json", R"({"extends": "base.json", "train": {"epochs": 2}})");
  EXPECT_THAT(
      error_of(dir / "leaf.json"),
      HasSubstr((dir / "base.json").string() + ": train.optimizer.lr: expected a positive number, got -3"));
}

TEST(Config, MissingFileIsAnError) {
  TempDir dir;
  EXPECT_THAT(error_of(dir / "none.json"), HasSubstr("none.json: cannot open"));
}

TEST(Config, ValueAtReadsDottedPaths) {
  nlohmann::json j = {{"a", {{"b", 3}}}};
  EXPECT_EQ(value_at(j, "a.b"), 3);
  EXPECT_TRUE(value_at(j, "a.c").is_null());
  EXPECT_EQ(parse_value("abc"), "abc");
  EXPECT_EQ(parse_value("1e-3"), 1e-3);
}

}  // namespace
}  // namespace tiebreak::config
