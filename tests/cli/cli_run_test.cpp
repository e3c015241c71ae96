// End-to-end: the built `tiebreak` program training tiebreak's own LeNet-5 on the
// `synthetic` dataset (no files needed), sweeping with child processes, resuming
// after a SIGKILL and comparing.
#include "support/test_support.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/metrics.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tiebreak::testing::metrics_without_seconds;
using tiebreak::testing::run_tiebreak;
using tiebreak::testing::TempDir;

TEST(TrainCliRun, TrainsLeNetAndRecordsTiesPerPoolingLayer) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 2);
  auto r =
      run_tiebreak("train " + config.string() + " --set nonsmooth.beta=1 --out " + (dir / "exp").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("run-0: finished"));
  auto table = read_csv(dir / "exp" / "run-0" / "metrics.csv");
  ASSERT_EQ(table.rows.size(), 2u);
  // The counters ran: LeNet-5's ReLU zeros make all-zero windows, so both pools see ties every epoch (a
  // counter that never ran writes 0).
  for (const char* column : {"ties.features.pool1", "ties.features.pool2"}) {
    ASSERT_GE(table.index(column), 0) << column;
    for (const auto& row : table.rows) {
      const double fraction = std::stod(row[table.index(column)]);
      EXPECT_GT(fraction, 0.0) << column;
      EXPECT_LE(fraction, 1.0) << column;
    }
  }
  EXPECT_EQ(table.rows[0][table.index("beta")], "1");
  EXPECT_EQ(table.rows[0][table.index("epoch")], "0");
  EXPECT_EQ(table.rows[1][table.index("epoch")], "1");
  EXPECT_TRUE(std::filesystem::exists(dir / "exp" / "run-0" / "metrics_study.csv"));
  auto run = nlohmann::json::parse(read_text(dir / "exp" / "run-0" / "run.json"));
  EXPECT_EQ(run["status"], "finished");
  // Not a terminal: plain per-epoch lines, no carriage returns.
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_THAT(r.err, HasSubstr("epoch 2/2"));
}

TEST(TrainCliRun, NoProgressSilencesThePeriodicProgressLines) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 1);
  // A progress line due after every step, stderr not a terminal: logged, to train.log as well ...
  const std::string every_step = " --set exp.log_every_seconds=1e-9 --out ";
  auto shown = run_tiebreak("train " + config.string() + every_step + (dir / "shown").string());
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.err, HasSubstr("epoch 1/1 step 1/8"));
  EXPECT_THAT(read_text(dir / "shown" / "run-0" / "train.log"), HasSubstr("epoch 1/1 step 8/8"));
  // ... and with --no-progress, nowhere: train.log keeps the per-epoch line only.
  auto quiet =
      run_tiebreak("train " + config.string() + " --no-progress" + every_step + (dir / "quiet").string());
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_THAT(quiet.err, ::testing::Not(HasSubstr(" step ")));
  const std::string log = read_text(dir / "quiet" / "run-0" / "train.log");
  EXPECT_THAT(log, ::testing::Not(HasSubstr(" step ")));
  EXPECT_THAT(log, HasSubstr("epoch 1/1  lr 0.05"));
}

TEST(TrainCliRun, ResumeAfterSigkillEqualsAnUninterruptedRun) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 6);
  auto whole = run_tiebreak("train " + config.string() + " --no-progress --out " + (dir / "whole").string());
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  // Three kills at fixed delays (wherever they land: before the first checkpoint, mid-run, or after the
  // end), and one (delay 0) that waits for the first recorded epoch, so that at least one lands mid-run
  // whatever the machine's load.
  bool landed_mid_run = false;
  for (int delay_ms : {300, 900, 1500, 0}) {
    const auto out = dir / ("killed-" + std::to_string(delay_ms));
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execl(tiebreak::testing::tiebreak_binary().c_str(), tiebreak::testing::tiebreak_binary().c_str(),
              "train", config.c_str(), "--no-progress", "--out", out.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    } else {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      while (!fs::exists(out / "run-0" / "metrics.csv") && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    size_t rows_before = 0;
    if (fs::exists(out / "run-0" / "metrics.csv"))
      rows_before = read_csv(out / "run-0" / "metrics.csv").rows.size();
    const bool mid_run = rows_before > 0 && rows_before < 6;
    if (delay_ms == 0) EXPECT_TRUE(mid_run) << rows_before << " epochs recorded when killed";
    // Whatever the moment of the kill, every file present is complete.
    if (fs::exists(out / "run-0" / "metrics.csv")) EXPECT_NO_THROW(read_csv(out / "run-0" / "metrics.csv"));
    if (fs::exists(out / "run-0" / "run.json")) {
      EXPECT_NO_THROW(nlohmann::json::parse(read_text(out / "run-0" / "run.json")));
    }
    auto resumed = run_tiebreak("train " + config.string() + " --no-progress --resume --out " + out.string());
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_EQ(metrics_without_seconds(out / "run-0"), metrics_without_seconds(dir / "whole" / "run-0"))
        << "killed after " << delay_ms << " ms";
    if (mid_run) {
      // Continued from the checkpoint, not retrained from scratch.
      landed_mid_run = true;
      EXPECT_THAT(read_text(out / "run-0" / "train.log"),
                  HasSubstr("resumed from " + (out / "run-0" / "checkpoint.pt").string() + " after epoch"));
    }
    for (const auto& e : fs::directory_iterator(out / "run-0")) {
      EXPECT_NE(e.path().filename().string().rfind(".tmp.", 0), 0u) << e.path();
    }
  }
  EXPECT_TRUE(landed_mid_run);
}

TEST(SweepCliRun, ChildProcessJobsThenSkipOnRerunThenCompare) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 1);
  const auto out = dir / "sweep";
  const std::string args =
      "sweep " + config.string() +
      " --grid nonsmooth.beta=0,1000 --grid train.optimizer.lr=0.05,1e30 --runs 2 --jobs 3 --out " +
      out.string();
  auto r = run_tiebreak(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("4 finished, 4 diverged, 0 failed, 0 skipped"));
  EXPECT_TRUE(fs::exists(out / "beta=1000_lr=1e+30" / "run-1" / "console.log"));
  auto again = run_tiebreak(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("0 finished, 0 diverged, 0 failed, 8 skipped"));

  auto table = run_tiebreak("compare " + out.string());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  // The four groups (lr x β), each of two complete runs; those at lr 1e30 diverged.
  for (const char* group : {R"((^|\n)fp32 +0\.05 +0\.0 +2 +0 )", R"((^|\n)fp32 +0\.05 +1000\.0 +2 +0 )",
                            R"((^|\n)fp32 +1e\+30 +0\.0 +2 +2 )", R"((^|\n)fp32 +1e\+30 +1000\.0 +2 +2 )"}) {
    EXPECT_TRUE(std::regex_search(table.out, std::regex(group))) << group << "\n" << table.out;
  }
  auto csv = run_tiebreak("compare --csv " + out.string());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_THAT(csv.out, HasSubstr("precision,lr,beta,runs,diverged,incomplete"));
  for (const char* group : {"\nfp32,0.05,0.0,2,0,0,", "\nfp32,0.05,1000.0,2,0,0,", "\nfp32,1e+30,0.0,2,2,0,",
                            "\nfp32,1e+30,1000.0,2,2,0,"}) {
    EXPECT_THAT(csv.out, HasSubstr(group));
  }
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 5) << csv.out;  // the header and four groups
}

TEST(SweepCliRun, ChildProcessesShareTheCoresUnlessTheConfigSetsThreads) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 1);
  auto j = nlohmann::json::parse(read_text(config));
  j["exp"]["threads"] = 0;
  std::ofstream(dir / "default_threads.json") << j.dump(2);
  auto r = run_tiebreak("sweep " + (dir / "default_threads.json").string() +
                        " --grid nonsmooth.beta=0,1 --jobs 2 --out " + (dir / "shared").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t share = std::max<int64_t>(1, at::get_num_threads() / 2);
  for (const char* point : {"beta=0", "beta=1"}) {
    auto resolved = nlohmann::json::parse(read_text(dir / "shared" / point / "run-0" / "config.json"));
    EXPECT_EQ(resolved["exp"]["threads"].get<int64_t>(), share) << point;
  }
  r = run_tiebreak("sweep " + config.string() + " --grid nonsmooth.beta=0,1 --jobs 2 --out " +
                   (dir / "explicit").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto resolved = nlohmann::json::parse(read_text(dir / "explicit" / "beta=1" / "run-0" / "config.json"));
  EXPECT_EQ(resolved["exp"]["threads"].get<int64_t>(), 1);
}

TEST(SweepCliRun, WithoutGridTheConfigsOwnGridIsSwept) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 1);
  auto j = nlohmann::json::parse(read_text(config));
  j["sweep"] = {{"grid", {{"nonsmooth.beta", {0, 10000}}}}};
  std::ofstream(dir / "grid.json") << j.dump(2);
  auto r = run_tiebreak("sweep " + (dir / "grid.json").string() + " --out " + (dir / "own").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 finished"));
  EXPECT_TRUE(fs::exists(dir / "own" / "beta=0" / "run-0" / "metrics.csv"));
  EXPECT_TRUE(fs::exists(dir / "own" / "beta=10000" / "run-0" / "metrics.csv"));
  // --grid replaces it.
  r = run_tiebreak("sweep " + (dir / "grid.json").string() + " --grid nonsmooth.beta=1 --out " +
                   (dir / "given").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "given" / "beta=1" / "run-0"));
  EXPECT_FALSE(fs::exists(dir / "given" / "beta=0"));
}

}  // namespace
}  // namespace tiebreak::train
