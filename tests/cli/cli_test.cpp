#include "support/test_support.h"
#include "train/synthetic_task.h"

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

// The library's messages name settings in its own words (override, data.root, resume, run directory); the
// command line adds the flags the user typed.
TEST(CliMessages, LibraryErrorsNameTheFlagsOfThisCommandLine) {
  TempDir dir;
  const auto c = testing::write_cli_config(dir.path(), 1).string();
  auto grid = run_tiebreak("sweep " + c + " --grid train.optimizer.lr=0.1,-1 --out " + (dir / "s").string());
  EXPECT_EQ(grid.exit_code, 1);
  EXPECT_THAT(grid.err, HasSubstr("tiebreak: error: --grid train.optimizer.lr=0.1,-1: train.optimizer.lr: "
                                  "expected a positive number, got -1\n"));
  auto data = run_tiebreak("train " + c + " --set data.dataset=mnist --data-root " +
                           (dir / "nowhere").string() + " --out " + (dir / "d").string());
  EXPECT_EQ(data.exit_code, 1);
  EXPECT_THAT(data.err,
              HasSubstr("point data.root (or TIEBREAK_DATA) at its parent folder, or list the files "
                        "in files.train) (--data-root)\n"));
  const auto out = (dir / "t").string();
  ASSERT_EQ(run_tiebreak("train " + c + " --no-progress --out " + out).exit_code, 0);
  auto again = run_tiebreak("train " + c + " --no-progress --out " + out);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already holds a run (status finished); resume it or choose another run "
                                   "directory (--resume, --out)\n"));
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
