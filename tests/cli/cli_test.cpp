#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace tiebreak::train {
namespace {

using ::testing::HasSubstr;
using tiebreak::testing::run_tiebreak;
using tiebreak::testing::TempDir;

TEST(TrainCli, ABadConfigIsOneLineNamingFileAndPath) {
  TempDir dir;
  std::ofstream(dir / "x.json") << R"({"train": {"optimizer": {"lr": -1}}})";
  auto r = run_tiebreak("train " + (dir / "x.json").string() + " --out " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "tiebreak: error: " + (dir / "x.json").string() +
                       ": train.optimizer.lr: expected a positive number, got -1\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

TEST(TrainCli, SetOverridesAreValidatedToo) {
  TempDir dir;
  std::ofstream(dir / "x.json") << "{}";
  auto r =
      run_tiebreak("train " + (dir / "x.json").string() + " --set train.epochs=0 --set model.name=lenet5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--set train.epochs=0: train.epochs: expected a positive integer, got 0"));
}

TEST(SweepCli, BadGridAndShardAreErrors) {
  TempDir dir;
  std::ofstream(dir / "x.json") << "{}";
  auto r = run_tiebreak("sweep " + (dir / "x.json").string() + " --grid nonsmooth.beta --out " +
                        (dir / "o").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--grid nonsmooth.beta: expected key=v1,v2"));
  r = run_tiebreak("sweep " + (dir / "x.json").string() + " --shard 3/2 --out " + (dir / "o").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--shard 3/2: expected i/n"));
}

TEST(CompareCli, NoRunsIsAnError) {
  TempDir dir;
  auto r = run_tiebreak("compare " + dir.path().string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no run directories"));
}

}  // namespace
}  // namespace tiebreak::train
