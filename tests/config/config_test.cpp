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
  EXPECT_EQ(again.config.train.optimizer.betas[0], 0.8);
  EXPECT_EQ(again.config.data.train_files, (std::vector<std::string>{"/x/y.gz", "z.gz"}));
  EXPECT_EQ(again.config.data.synthetic_shape, (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ(again.config.train.precision, Precision::AmpFp16);
  EXPECT_EQ(again.config.train.half_compute, HalfCompute::Native);
  EXPECT_EQ(config_from_json(nlohmann::json::object()).config.train.half_compute,
            HalfCompute::Fp32Accumulate);
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

TEST(Config, OverrideErrorsNameTheSetArgument) {
  TempDir dir;
  write(dir / "c.json", "{}");
  EXPECT_THAT(
      error_of(dir / "c.json", {"train.optimizer.lr=-1"}),
      HasSubstr("--set train.optimizer.lr=-1: train.optimizer.lr: expected a positive number, got -1"));
  EXPECT_THAT(error_of(dir / "c.json", {"novalue"}), HasSubstr("expected key=value"));
  EXPECT_THAT(error_of(dir / "c.json", {"train.epochs.x=1"}),
              HasSubstr("--set train.epochs.x=1: train.epochs: expected a positive integer, got {\"x\":1}"));
  write(dir / "d.json", R"({"train": {"epochs": 3}})");
  EXPECT_THAT(error_of(dir / "d.json", {"train.epochs.x=1"}), HasSubstr("'train.epochs' is not an object"));
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
                "train.half_compute: expected one of fp32_accumulate|native, got \"fp16\""},
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
        BadCase{R"({"model": {"init": "xavier"}})", "model.init: expected one of pytorch_default|kaiming"},
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
