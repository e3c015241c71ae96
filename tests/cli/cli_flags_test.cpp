// Command-line values out of range: one line naming the flag and what was
// expected (no 309-digit bounds), exit 2 for a usage error, and nothing
// written before the check.
#include "support/test_support.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using tiebreak::testing::run_tiebreak;
using tiebreak::testing::TempDir;

void expect_usage_error(const tiebreak::testing::CommandResult& r, const std::string& expected) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("tiebreak: error: " + expected));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // CLI11's own range validators print their bounds, e.g. 1.79769e+308 written out in full.
  EXPECT_THAT(r.err, Not(HasSubstr("000000000000")));
}

TEST(CliFlags, IntegerFlagsSayWhatTheyExpect) {
  TempDir dir;
  const auto c = testing::write_cli_config(dir.path(), 1).string();
  expect_usage_error(run_tiebreak("sweep " + c + " --jobs 0"),
                     "--jobs: expected a positive integer, got '0'");
  expect_usage_error(run_tiebreak("sweep " + c + " --runs -2"),
                     "--runs: expected a positive integer, got '-2'");
  expect_usage_error(run_tiebreak("train " + c + " --run-id -1"),
                     "--run-id: expected a non-negative integer, got '-1'");
  expect_usage_error(run_tiebreak("train " + c + " --run-id abc"),
                     "--run-id: expected a non-negative integer, got 'abc'");
  expect_usage_error(run_tiebreak("lr-search " + c + " --trials 1.5"),
                     "--trials: expected a positive integer, got '1.5'");
  expect_usage_error(run_tiebreak("zones " + c + " --pair nonsmooth.beta=0,1 --batch-limit x"),
                     "--batch-limit: expected a non-negative integer, got 'x'");
  expect_usage_error(run_tiebreak("data verify --threads 0"),
                     "--threads: expected a positive integer, got '0'");
  EXPECT_FALSE(fs::exists(dir / "runs"));
}

TEST(CliFlags, NumberRangesRejectInfinityAndNan) {
  TempDir dir;
  const auto c = testing::write_cli_config(dir.path(), 1).string();
  const std::string out = " --out " + (dir / "search").string();
  for (const std::string& range : {"1e-5,inf", "nan,1", "1e-5,1e999", "1e-5,"}) {
    auto r = run_tiebreak("lr-search " + c + " --range " + range + out);
    EXPECT_EQ(r.exit_code, 1) << range;
    EXPECT_THAT(r.err, HasSubstr("--range: expected a finite number, got '")) << range;
  }
  auto betas = run_tiebreak("lr-search " + c + " --betas 0,inf" + out);
  EXPECT_THAT(betas.err, HasSubstr("--betas: expected a finite number, got 'inf'"));
  EXPECT_FALSE(fs::exists(dir / "search"));
}

TEST(CliFlags, OverflowingNumbersNameTheirSource) {
  TempDir dir;
  const auto c = testing::write_cli_config(dir.path(), 1).string();
  auto r = run_tiebreak("train " + c + " --set nonsmooth.beta=1e999 --out " + (dir / "x").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err,
              HasSubstr("--set nonsmooth.beta=1e999: nonsmooth.beta: expected a finite number, got 1e999"));
  auto grid = run_tiebreak("sweep " + c + " --grid nonsmooth.beta=0,1e999 --out " + (dir / "s").string());
  EXPECT_EQ(grid.exit_code, 1);
  EXPECT_THAT(grid.err, HasSubstr("--grid nonsmooth.beta=0,1e999: nonsmooth.beta: expected a finite number"));
  auto lr = run_tiebreak("train " + c + " --set train.precision=fp16 --set train.optimizer.lr=1e5 --out " +
                         (dir / "y").string());
  EXPECT_EQ(lr.exit_code, 1);
  EXPECT_THAT(lr.err, HasSubstr("train.optimizer.lr: expected at most 65504"));
  auto extends = run_tiebreak("train " + c + " --set extends=other.json --out " + (dir / "z").string());
  EXPECT_THAT(extends.err, HasSubstr("--set extends=other.json: extends cannot be overridden"));
  for (const char* created : {"x", "s", "y", "z"}) EXPECT_FALSE(fs::exists(dir / created)) << created;
}

TEST(CliFlags, EmptyGpuEntriesAreRejectedBeforeTheSweepWritesAnything) {
  TempDir dir;
  const auto c = testing::write_cli_config(dir.path(), 1).string();
  for (const std::string& gpus : {",,", "0,", "", "0,,1"}) {
    auto r = run_tiebreak("sweep " + c + " --grid nonsmooth.beta=0,1 --gpus '" + gpus + "' --out " +
                          (dir / "sweep").string());
    EXPECT_EQ(r.exit_code, 1) << gpus;
    EXPECT_THAT(r.err, HasSubstr("--gpus: expected comma-separated device indices or UUIDs, got an entry ''"))
        << gpus;
    EXPECT_FALSE(fs::exists(dir / "sweep" / "sweep.json")) << gpus;
  }
}

TEST(CliFlags, EmitSlurmErrorsNameTheRequestedFile) {
  TempDir dir;
  const auto c = testing::write_cli_config(dir.path(), 1).string();
  const auto script = dir / "no-such-folder" / "sweep.sbatch";
  auto r = run_tiebreak("sweep " + c + " --grid nonsmooth.beta=0,1 --out " + (dir / "sweep").string() +
                        " --emit-slurm " + script.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(
      r.err, HasSubstr("tiebreak: error: " + script.string() + ": cannot create a temporary file beside it"));
  EXPECT_THAT(r.err, Not(HasSubstr(".tmp.")));
}

}  // namespace
}  // namespace tiebreak::train
