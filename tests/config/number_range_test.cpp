// Numbers out of range, from a file or --set: errors name the file (or the
// --set argument) and the JSON path, before anything is created or trained.
#include "tiebreak/config/config.h"

#include "support/test_support.h"
#include "tiebreak/train/precision.h"

#include <ATen/Dispatch.h>
#include <c10/util/Half.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <limits>

namespace tiebreak::config {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tiebreak::testing::error_message;
using tiebreak::testing::TempDir;

fs::path write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name) << text;
  return dir / name;
}

TEST(ConfigNumbers, AnOverflowingNumberInAFileNamesTheFileAndThePath) {
  TempDir dir;
  const auto beta = write(dir, "beta.json", R"({"nonsmooth": {"beta": 1e999}})");
  EXPECT_EQ(error_message([&] { load_config(beta); }),
            beta.string() +
                ": nonsmooth.beta: expected a finite number, got 1e999 (beyond the range of a double, "
                "about 1.8e308)");
  const auto lr =
      write(dir, "lr.json", R"({"train": {"epochs": 3, "optimizer": {"name": "sgd", "lr": -1e400}}})");
  EXPECT_THAT(error_message([&] { load_config(lr); }),
              HasSubstr(lr.string() + ": train.optimizer.lr: expected a finite number, got -1e400"));
  const auto listed = write(dir, "betas.json", R"({"train": {"optimizer": {"betas": [0.9, 2e308]}}})");
  EXPECT_THAT(error_message([&] { load_config(listed); }),
              HasSubstr(listed.string() + ": train.optimizer.betas[1]: expected a finite number, got 2e308"));
}

TEST(ConfigNumbers, AnOverflowingNumberInABaseFileNamesTheBaseFile) {
  TempDir dir;
  const auto base = write(dir, "base.json", R"({"nonsmooth": {"beta": 1E+999}})");
  const auto child = write(dir, "child.json", R"({"extends": "base.json"})");
  EXPECT_THAT(error_message([&] { load_config(child); }), HasSubstr(base.string() + ": nonsmooth.beta: "));
}

TEST(ConfigNumbers, AnOverflowingSetValueNamesTheArgumentAndThePath) {
  TempDir dir;
  const auto c = write(dir, "c.json", "{}");
  EXPECT_EQ(error_message([&] { load_config(c, {"nonsmooth.beta=1e999"}); }),
            "override nonsmooth.beta=1e999: nonsmooth.beta: expected a finite number, got 1e999 (beyond the "
            "range of "
            "a double, about 1.8e308)");
  EXPECT_THAT(error_message([&] { load_config(c, {R"(train.optimizer={"lr": 1e999})"}); }),
              HasSubstr("train.optimizer.lr: expected a finite number, got 1e999"));
  EXPECT_THAT(error_message([&] { parse_value("[1, 1e999]"); }),
              HasSubstr("[1]: expected a finite number, got 1e999"));
}

TEST(ConfigNumbers, TheLearningRateMustFitTheParametersDtype) {
  TempDir dir;
  const auto c = write(dir, "c.json", R"({"train": {"precision": "fp16", "optimizer": {"lr": 1e5}}})");
  EXPECT_EQ(
      error_message([&] { load_config(c); }),
      c.string() +
          ": train.optimizer.lr: expected at most 65504, the largest fp16 number (fp16 training keeps its "
          "parameters in fp16), got 100000");
  EXPECT_THAT(
      error_message([&] {
        load_config(c, {"train.precision=fp32", "train.optimizer.lr=1e39"});
      }),
      HasSubstr("override train.optimizer.lr=1e39: train.optimizer.lr: expected at most 3.40282e+38, the "
                "largest fp32 number"));
  // amp keeps fp32 parameters, fp64 has room.
  EXPECT_NO_THROW(load_config(c, {"train.precision=amp_fp16"}));
  EXPECT_NO_THROW(load_config(c, {"train.precision=fp64", "train.optimizer.lr=1e39"}));
  EXPECT_NO_THROW(load_config(c, {"train.optimizer.lr=65504"}));
  EXPECT_THAT(error_message([&] {
                load_config(c, {"train.optimizer.lr=1e-3", "train.optimizer.weight_decay=7e4"});
              }),
              HasSubstr("train.optimizer.weight_decay: expected at most 65504"));
  EXPECT_THAT(
      error_message([&] {
        load_config(c, {"train.optimizer.name=adam", "train.optimizer.lr=1e4", "train.optimizer.momentum=0"});
      }),
      HasSubstr("train.optimizer.lr: expected lr / (1 - betas[0]) (Adam's first step) at most 65504"));
  EXPECT_THAT(error_message([&] {
                load_config(c, {"train.optimizer.lr=1", "train.epochs=40", "train.schedule.name=step",
                                "train.schedule.step_size=1", "train.schedule.gamma=2"});
              }),
              HasSubstr("train.schedule.gamma: expected the learning rate to stay at most 65504"));
}

// The limits config validation uses are those of the dtype the trainer keeps
// the parameters in (train::plan_for), so the two cannot drift apart.
TEST(ConfigNumbers, TheLimitIsTheLargestValueOfThePlannedParameterDtype) {
  TempDir dir;
  const auto c = write(dir, "c.json", "{}");
  for (const char* name : {"fp16", "bf16", "fp32", "fp64", "amp_fp16", "amp_bf16"}) {
    const auto precision = load_config(c, {std::string("train.precision=") + name}).config.train.precision;
    const auto dtype = train::plan_for(precision).parameter_dtype;
    double largest = 0;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "largest", [&] {
      largest = static_cast<double>(std::numeric_limits<scalar_t>::max());
    });
    if (largest < std::numeric_limits<double>::max()) {
      const std::string above = fmt::format("train.optimizer.lr={:.17g}", largest * (1 + 1e-6));
      EXPECT_THAT(error_message([&] {
                    load_config(c, {std::string("train.precision=") + name, above});
                  }),
                  HasSubstr("train.optimizer.lr: expected at most"))
          << name;
    }
    const std::string at = fmt::format("train.optimizer.lr={:.17g}", largest);
    EXPECT_NO_THROW(load_config(c, {std::string("train.precision=") + name, at})) << name;
  }
}

TEST(ConfigNumbers, SetExtendsIsRejectedNotIgnored) {
  TempDir dir;
  const auto c = write(dir, "c.json", "{}");
  write(dir, "base.json", R"({"nonsmooth": {"beta": 7}})");
  EXPECT_THAT(error_message([&] { load_config(c, {"extends=base.json"}); }),
              HasSubstr("override extends=base.json: extends cannot be overridden"));
}

}  // namespace
}  // namespace tiebreak::config
