// The built `tiebreak` program under injected faults: a write that fails (a
// file-size limit, which any user can set, and a genuinely full tmpfs where
// this test may mount one), a damaged checkpoint, an unreadable run.json.
// Before these were handled, a failed checkpoint write ended in `terminate
// called` (exit 134) with its temporary file left and run.json at "running".
#include "cli/cli_checks.h"
#include "support/test_support.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/train/trainer.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

namespace tiebreak::train {
namespace {

using namespace tiebreak::testing;

/// Exactly one "tiebreak: error: ..." line, holding `expected` after the tag.
void expect_one_error_line(const std::string& err, const std::string& expected) {
  expect_one_line(err, "tiebreak: error: ", "tiebreak: error: " + expected);
}

TEST(CliFaults, ACheckpointWriteThatFailsEndsTheRunCleanlyAndResumeContinuesFromThePreviousOne) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 3);
  auto whole = run_tiebreak("train " + config.string() + " --no-progress --out " + (dir / "whole").string());
  ASSERT_EQ(whole.exit_code, 0) << whole.err;

  const auto out = dir / "faulty";
  const auto run_dir = out / "run-0";
  auto first = run_tiebreak("train " + config.string() +
                            " --set train.stop_after_epoch=1 --no-progress --out " + out.string());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto checkpoint = read_text(run_dir / "checkpoint.pt");
  ASSERT_GT(checkpoint.size(), 64u * 1024) << "the limit below must be smaller than a checkpoint";

  tiebreak::testing::CommandResult failed;
  {
    FileSizeLimit limit(64 * 1024);  // run.json, metrics.csv, train.log fit; the checkpoint does not
    failed = run_tiebreak("train " + config.string() + " --resume --no-progress --out " + out.string());
  }
  EXPECT_EQ(failed.exit_code, 1);
  expect_one_error_line(failed.err,
                        (run_dir / "checkpoint.pt").string() +
                            ": cannot write: File too large (the previous file is left as it was)");
  EXPECT_TRUE(temporaries_in(run_dir).empty()) << ::testing::PrintToString(temporaries_in(run_dir));
  auto info = nlohmann::json::parse(read_text(run_dir / "run.json"));
  EXPECT_EQ(info["status"], "failed");
  EXPECT_THAT(info["error"].get<std::string>(), HasSubstr("checkpoint.pt: cannot write: File too large"));
  EXPECT_EQ(read_text(run_dir / "checkpoint.pt"), checkpoint);

  auto resumed = run_tiebreak("train " + config.string() + " --resume --no-progress --out " + out.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(metrics_without_seconds(run_dir), metrics_without_seconds(dir / "whole" / "run-0"));
}

TEST(CliFaults, AnInProcessSweepRecordsTheFailedRunsAndGoesOn) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 1);
  tiebreak::testing::CommandResult r;
  {
    FileSizeLimit limit(64 * 1024);
    r = run_tiebreak("sweep " + config.string() + " --grid nonsmooth.beta=0,1 --jobs 1 --out " +
                     (dir / "sweep").string());
  }
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, Not(HasSubstr("terminate called")));
  EXPECT_THAT(r.out, HasSubstr("0 finished, 0 diverged, 2 failed"));
  for (const char* point : {"beta=0", "beta=1"}) {
    const auto run_dir = dir / "sweep" / point / "run-0";
    EXPECT_EQ(read_run_status(run_dir), RunStatus::Failed) << point;
    EXPECT_TRUE(temporaries_in(run_dir).empty()) << point;
  }
}

// A real full filesystem (ENOSPC, not the file-size limit's EFBIG): a small
// tmpfs mounted in a private mount namespace, which vanishes with it. Needs the
// right to mount (root); elsewhere the file-size tests above stand in.
TEST(CliFaults, AFullDiskEndsTheRunCleanlyAndFreesItsTemporary) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root (skipped, not failed)";
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 1);
  fs::create_directories(dir / "mnt");
  const std::string script =
      "mount -t tmpfs -o size=192k tmpfs " + (dir / "mnt").string() + " || exit 99; " + tiebreak_binary() +
      " train " + config.string() + " --no-progress --out " + (dir / "mnt" / "exp").string() + " >" +
      (dir / "out").string() + " 2>" + (dir / "err").string() + "; echo $? >" + (dir / "rc").string() +
      "; ls -A " + (dir / "mnt" / "exp" / "run-0").string() + " >" + (dir / "listing").string() + "; cp " +
      (dir / "mnt" / "exp" / "run-0" / "run.json").string() + " " + (dir / "run.json").string();
  const int status = std::system(("unshare -m sh -c '" + script + "' >/dev/null 2>&1").c_str());
  if (!fs::exists(dir / "rc"))
    GTEST_SKIP() << "cannot mount a private tmpfs here (unshare -m: exit " << status
                 << "; skipped, not failed)";
  EXPECT_EQ(read_text(dir / "rc"), "1\n");
  const auto err = read_text(dir / "err");
  expect_one_error_line(err, (dir / "mnt" / "exp" / "run-0" / "checkpoint.pt").string() +
                                 ": cannot write: No space left on device");
  EXPECT_THAT(read_text(dir / "listing"), Not(HasSubstr(".tmp.")));
  auto info = nlohmann::json::parse(read_text(dir / "run.json"));
  EXPECT_EQ(info["status"], "failed");
  EXPECT_THAT(info["error"].get<std::string>(), HasSubstr("No space left on device"));
}

TEST(CliFaults, StandardOutputThatCannotBeWrittenIsAnError) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 1);
  ASSERT_EQ(
      run_tiebreak("train " + config.string() + " --no-progress --out " + (dir / "exp").string()).exit_code,
      0);
  const int status = std::system((tiebreak_binary() + " compare --csv " + (dir / "exp").string() +
                                  " >/dev/full 2>" + (dir / "err").string())
                                     .c_str());
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(read_text(dir / "err"),
            "tiebreak: error: cannot write to standard output: No space left on device\n");
}

TEST(CliFaults, TrainWithoutResumeNeverOverwritesARunWhoseRunJsonIsUnreadable) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 1);
  const auto out = dir / "exp";
  ASSERT_EQ(run_tiebreak("train " + config.string() + " --no-progress --out " + out.string()).exit_code, 0);
  const auto metrics = read_text(out / "run-0" / "metrics.csv");
  std::ofstream(out / "run-0" / "run.json", std::ios::trunc) << "\x01\x02 not json";
  auto r = run_tiebreak("train " + config.string() + " --no-progress --out " + out.string());
  EXPECT_EQ(r.exit_code, 1);
  expect_one_error_line(
      r.err, (out / "run-0").string() + ": already holds a run (" + (out / "run-0" / "run.json").string() +
                 " is unreadable); resume it or choose another run directory (--resume, --out)");
  EXPECT_EQ(read_text(out / "run-0" / "metrics.csv"), metrics);
}

}  // namespace
}  // namespace tiebreak::train
