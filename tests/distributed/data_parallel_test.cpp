#include "tiebreak/config/config.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/python.h"
#include "tiebreak/train/metrics.h"

#include "distributed/ranks.h"
#include "support/test_support.h"
#include "support/tiny_lenet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace tiebreak::distributed {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using tiebreak::testing::TempDir;

/// A small LeNet-5 task on the built-in synthetic dataset: 96 training
/// examples in global batches of 16 (8 per rank on two ranks), no BatchNorm, so
/// one process and two ranks compute the same thing up to summation order.
fs::path write_config(const fs::path& dir, int epochs, double timeout_seconds = 60,
                      const std::vector<std::string>& overrides = {}) {
  tiebreak::testing::TinyLenet task;
  task.train_size = 96;
  task.test_size = 40;
  task.classes = 3;
  task.batch_size = 16;
  task.test_batch_size = 20;
  task.epochs = epochs;
  auto j = tiebreak::testing::tiny_lenet_json(task);
  j["exp"]["distributed"] = {{"backend", "gloo"}, {"timeout_seconds", timeout_seconds}};
  for (const auto& o : overrides) config::apply_override(j, o);
  const auto path = dir / "dp.json";
  std::ofstream(path) << j.dump(2);
  return path;
}

std::vector<std::string> train_args(const fs::path& config, const fs::path& out,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"train", config.string(), "--out", out.string(), "--no-progress"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

/// Runs `args` as a plain single process.
testing::Process run_single(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> command{tiebreak::testing::tiebreak_binary()};
  command.insert(command.end(), args.begin(), args.end());
  std::vector<testing::Process> p{testing::spawn(command, testing::clean_environment({}), log)};
  testing::wait_all(p, std::chrono::seconds(300));
  return p[0];
}

void expect_all_succeeded(const std::vector<testing::Process>& ranks) {
  for (size_t r = 0; r < ranks.size(); ++r) {
    EXPECT_EQ(ranks[r].exit_code, 0) << "rank " << r << ": " << testing::read_file(ranks[r].err);
  }
}

/// metrics.csv columns that must agree between equivalent runs.
void expect_same_metrics(const fs::path& a, const fs::path& b) {
  auto ta = tiebreak::read_csv(a), tb = tiebreak::read_csv(b);
  ASSERT_EQ(ta.rows.size(), tb.rows.size());
  ASSERT_FALSE(ta.rows.empty());
  for (const std::string column : {"train_loss", "test_loss", "train_accuracy", "test_accuracy", "lr"}) {
    const int ia = ta.index(column), ib = tb.index(column);
    ASSERT_GE(ia, 0);
    ASSERT_GE(ib, 0);
    for (size_t r = 0; r < ta.rows.size(); ++r) {
      const double va = std::stod(ta.rows[r][ia]), vb = std::stod(tb.rows[r][ib]);
      // fp32 forward/backward with a different summation order (per-rank
      // batches, all-reduced gradients): agreement to ~1e-4 relative.
      EXPECT_NEAR(va, vb, 1e-4 * std::max(1.0, std::abs(va))) << column << " epoch " << r + 1;
    }
  }
}

TEST(DataParallel, TwoGlooRanksMatchOneProcessWithTheSameGlobalBatch) {
  TempDir dir;
  const auto config = write_config(dir.path(), 3);
  auto single = run_single(train_args(config, dir / "single"), dir / "single");
  ASSERT_EQ(single.exit_code, 0) << testing::read_file(single.err);

  auto ranks = testing::spawn_ranks(2, train_args(config, dir / "dp"), dir.path(), testing::free_port());
  testing::wait_all(ranks, std::chrono::seconds(300));
  expect_all_succeeded(ranks);
  expect_same_metrics(dir / "single" / "run-0" / "metrics.csv", dir / "dp" / "run-0" / "metrics.csv");

  // Rank 0 alone reports and records the run.
  EXPECT_THAT(testing::read_file(ranks[0].out), HasSubstr("run-0: finished"));
  EXPECT_EQ(testing::read_file(ranks[1].out), "");
  auto run = nlohmann::json::parse(testing::read_file(dir / "dp" / "run-0" / "run.json"));
  EXPECT_EQ(run.at("distributed").at("world_size"), 2);
  EXPECT_EQ(run.at("distributed").at("backend"), "gloo");
  EXPECT_EQ(run.at("status"), "finished");
}

/// The largest relative difference of `column` between two metrics.csv files.
double max_relative_difference(const fs::path& a, const fs::path& b, const std::string& column) {
  auto ta = tiebreak::read_csv(a), tb = tiebreak::read_csv(b);
  double worst = 0;
  for (size_t r = 0; r < std::min(ta.rows.size(), tb.rows.size()); ++r) {
    const double va = std::stod(ta.rows[r][ta.index(column)]), vb = std::stod(tb.rows[r][tb.index(column)]);
    worst = std::max(worst, std::abs(va - vb) / std::max(1.0, std::abs(va)));
  }
  return worst;
}

TEST(DataParallel, SyncBatchNormMatchesOneProcessWherePerRankStatisticsDoNot) {
  TempDir dir;
  const auto config =
      write_config(dir.path(), 2, 60, {"model.batch_norm=true", "exp.distributed.sync_batch_norm=true"});
  auto single = run_single(train_args(config, dir / "single"), dir / "single");
  ASSERT_EQ(single.exit_code, 0) << testing::read_file(single.err);
  auto synced = testing::spawn_ranks(2, train_args(config, dir / "sync"), dir.path(), testing::free_port());
  testing::wait_all(synced, std::chrono::seconds(300));
  expect_all_succeeded(synced);
  expect_same_metrics(dir / "single" / "run-0" / "metrics.csv", dir / "sync" / "run-0" / "metrics.csv");
  // The trainer converted the built LeNet5's four BatchNorm layers (bn1, bn2 over [N, C, H, W]; bn3, bn4 over
  // [N, C]).
  const std::string converted =
      "exp.distributed.sync_batch_norm: 4 BatchNorm layers normalize over the global batch";
  EXPECT_THAT(testing::read_file(dir / "sync" / "run-0" / "train.log"), HasSubstr(converted));

  // Per-rank statistics (the default) normalize each half-batch by itself: a different computation.
  auto per_rank = testing::spawn_ranks(
      2, train_args(config, dir / "per-rank", {"--set", "exp.distributed.sync_batch_norm=false"}), dir.path(),
      testing::free_port());
  testing::wait_all(per_rank, std::chrono::seconds(300));
  expect_all_succeeded(per_rank);
  EXPECT_THAT(testing::read_file(dir / "per-rank" / "run-0" / "train.log"), Not(HasSubstr(converted)));
  EXPECT_GT(max_relative_difference(dir / "single" / "run-0" / "metrics.csv",
                                    dir / "per-rank" / "run-0" / "metrics.csv", "train_loss"),
            1e-3);
}

TEST(DataParallel, ResumeAcrossRanksContinuesTheSameRun) {
  TempDir dir;
  const auto config = write_config(dir.path(), 3);
  auto whole = testing::spawn_ranks(2, train_args(config, dir / "whole"), dir.path(), testing::free_port());
  testing::wait_all(whole, std::chrono::seconds(300));
  expect_all_succeeded(whole);

  auto first =
      testing::spawn_ranks(2, train_args(config, dir / "split", {"--set", "train.stop_after_epoch=1"}),
                           dir.path(), testing::free_port());
  testing::wait_all(first, std::chrono::seconds(300));
  expect_all_succeeded(first);
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(dir / "split" / "run-0" / "run.json")).at("status"),
            "stopped");
  const std::string first_rows = testing::read_file(dir / "split" / "run-0" / "metrics.csv");
  auto rest = testing::spawn_ranks(2, train_args(config, dir / "split", {"--resume"}), dir.path(),
                                   testing::free_port());
  testing::wait_all(rest, std::chrono::seconds(300));
  expect_all_succeeded(rest);
  expect_same_metrics(dir / "whole" / "run-0" / "metrics.csv", dir / "split" / "run-0" / "metrics.csv");
  // Resumed, not restarted: the log says so and epoch 1's row keeps its bytes, seconds included.
  EXPECT_THAT(
      testing::read_file(dir / "split" / "run-0" / "train.log"),
      HasSubstr("resumed from " + (dir / "split" / "run-0" / "checkpoint.pt").string() + " after epoch 1"));
  ASSERT_FALSE(first_rows.empty());
  EXPECT_EQ(testing::read_file(dir / "split" / "run-0" / "metrics.csv").substr(0, first_rows.size()),
            first_rows);
}

TEST(DataParallel, AKilledRankEndsTheOthersWithAClearError) {
  TempDir dir;
  // Enough epochs that the job is still training when rank 1 dies.
  const auto config = write_config(dir.path(), 1000, /*timeout_seconds=*/20);
  auto ranks = testing::spawn_ranks(2, train_args(config, dir / "dp"), dir.path(), testing::free_port());
  // Kill rank 1 once rank 0 has finished an epoch (its metrics.csv exists): both are then inside training.
  const auto metrics = dir / "dp" / "run-0" / "metrics.csv";
  for (int i = 0; i < 3000 && !fs::exists(metrics); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(metrics)) << testing::read_file(ranks[0].err) << testing::read_file(ranks[1].err);
  ::kill(ranks[1].pid, SIGKILL);
  testing::wait_all(ranks, std::chrono::seconds(120));
  EXPECT_EQ(ranks[1].exit_code, 128 + SIGKILL);
  EXPECT_NE(ranks[0].exit_code, -2) << "rank 0 hung after rank 1 died";
  EXPECT_EQ(ranks[0].exit_code, 1);
  const auto err = testing::read_file(ranks[0].err);
  EXPECT_THAT(err, HasSubstr("tiebreak: error: "));
  EXPECT_THAT(err, HasSubstr("rank 0 of 2 (gloo): "));
  EXPECT_THAT(err,
              HasSubstr("(a peer rank died, or waited longer than exp.distributed.timeout_seconds = 20)"));
  // The error itself is one line.
  const auto line = err.substr(err.find("tiebreak: error: "));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(dir / "dp" / "run-0" / "run.json")).at("status"),
            "failed");
}

TEST(DataParallel, GlobalBatchMustSplitOverTheRanks) {
  TempDir dir;
  const auto config = write_config(dir.path(), 1);
  auto ranks = testing::spawn_ranks(3, train_args(config, dir / "dp"), dir.path(), testing::free_port());
  testing::wait_all(ranks, std::chrono::seconds(300));
  for (const auto& r : ranks) {
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(
        testing::read_file(r.err),
        HasSubstr("data.batch_size: 16 does not split over 3 ranks: expected a multiple of the world size"));
  }
}

TEST(DataParallel, TorchrunLaunchesTheRanks) {
  // torchrun of the project's Python (the build's TIEBREAK_PYTHON, or $TIEBREAK_PYTHON), or
  // $TIEBREAK_TORCHRUN: a configured build always has one, so a missing torchrun is a failure, not a skip.
  const char* from_env = std::getenv("TIEBREAK_TORCHRUN");
  const fs::path program = from_env && *from_env
                               ? fs::path(from_env)
                               : fs::path(tiebreak::project_python()).parent_path() / "torchrun";
  ASSERT_TRUE(fs::exists(program)) << "torchrun not found at " << program
                                   << " (beside the project's Python; set TIEBREAK_TORCHRUN to another)";
  TempDir dir;
  const auto config = write_config(dir.path(), 2);
  auto single = run_single(train_args(config, dir / "single"), dir / "single");
  ASSERT_EQ(single.exit_code, 0) << testing::read_file(single.err);
  std::vector<std::string> command{program.string(),
                                   "--nproc-per-node=2",
                                   "--master-addr=127.0.0.1",
                                   "--master-port=" + std::to_string(testing::free_port()),
                                   "--no-python",
                                   tiebreak::testing::tiebreak_binary()};
  for (const auto& a : train_args(config, dir / "dp")) command.push_back(a);
  std::vector<testing::Process> p{testing::spawn(command, testing::clean_environment({}), dir / "torchrun")};
  testing::wait_all(p, std::chrono::seconds(300));
  ASSERT_EQ(p[0].exit_code, 0) << testing::read_file(p[0].err);
  expect_same_metrics(dir / "single" / "run-0" / "metrics.csv", dir / "dp" / "run-0" / "metrics.csv");
  auto run = nlohmann::json::parse(testing::read_file(dir / "dp" / "run-0" / "run.json"));
  EXPECT_EQ(run.at("distributed").at("launcher"), "torchrun");
}

}  // namespace
}  // namespace tiebreak::distributed
