#include "tiebreak/train/trainer.h"

#include "support/test_support.h"
#include "tiebreak/train/atomic_file.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::synthetic_components;
using testing::synthetic_config;
using tiebreak::testing::error_message;
using tiebreak::testing::TempDir;

RunOutcome run(const config::LoadedConfig& c, const fs::path& dir, bool resume = false, int64_t id = 0) {
  RunOptions o;
  o.run_dir = dir;
  o.run_id = id;
  o.resume = resume;
  o.progress = false;
  return train_run(c, o, synthetic_components());
}

/// metrics.csv without the wall-clock column, which no two runs share.
std::string metrics_without_seconds(const fs::path& dir) {
  auto table = read_csv(dir / "metrics.csv");
  const int seconds = table.index("seconds");
  std::string out;
  for (const auto& row : table.rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (static_cast<int>(i) != seconds) out += row[i] + ",";
    }
    out += "\n";
  }
  return out;
}

TEST(Trainer, LossDecreasesAndEveryOutputIsWritten) {
  TempDir dir;
  auto outcome = run(synthetic_config({"train.epochs=5"}), dir.path());
  ASSERT_EQ(outcome.status, RunStatus::Finished);
  ASSERT_EQ(outcome.rows.size(), 5u);
  EXPECT_LT(outcome.rows.back().train_loss, 0.5 * outcome.rows.front().train_loss);
  EXPECT_GT(outcome.rows.back().test_accuracy, 0.8);
  for (const char* f : {"metrics.csv", "config.json", "run.json", "checkpoint.pt", "train.log"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  auto table = read_csv(dir / "metrics.csv");
  for (const char* column :
       {"run_id", "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "maxpool",
        "batch_norm", "precision", "formulation", "optimizer", "lr", "seconds", "diverged"}) {
    EXPECT_GE(table.index(column), 0) << column;
  }
  EXPECT_EQ(table.rows.size(), 5u);
  auto info = nlohmann::json::parse(read_text(dir / "run.json"));
  EXPECT_EQ(info["status"], "finished");
  EXPECT_EQ(info["run_seed"], 0);
  EXPECT_EQ(info["device"], "cpu");
  EXPECT_TRUE(info["build"].contains("libtorch_version"));
  EXPECT_EQ(read_run_status(dir.path()), RunStatus::Finished);
}

TEST(Trainer, SameSeedGivesIdenticalMetricsAndAnotherSeedDoesNot) {
  TempDir dir;
  run(synthetic_config(), dir / "a");
  run(synthetic_config(), dir / "b");
  run(synthetic_config({"train.seed=7"}), dir / "c");
  EXPECT_EQ(metrics_without_seconds(dir / "a"), metrics_without_seconds(dir / "b"));
  EXPECT_NE(metrics_without_seconds(dir / "a"), metrics_without_seconds(dir / "c"));
}

class ResumeTest : public ::testing::TestWithParam<std::tuple<int, std::string>> {};

TEST_P(ResumeTest, ResumedRunEqualsTheUninterruptedOne) {
  const auto [stop, variant] = GetParam();
  std::vector<std::string> base;
  if (variant == "innaprop")
    base = {"train.optimizer.name=innaprop", "train.optimizer.lr=0.01", "train.optimizer.momentum=0",
            "train.schedule.name=cosine"};
  if (variant == "amp_fp16") base = {"train.precision=amp_fp16", "train.loss_scale.growth_interval=3"};
  if (variant == "adam")
    base = {"train.optimizer.name=adam", "train.optimizer.lr=0.01", "train.optimizer.momentum=0"};
  TempDir dir;
  run(synthetic_config(base), dir / "whole");
  auto stopped = base;
  stopped.push_back("train.stop_after_epoch=" + std::to_string(stop));
  auto first = run(synthetic_config(stopped), dir / "split");
  EXPECT_EQ(first.status, RunStatus::Stopped);
  EXPECT_EQ(first.rows.size(), static_cast<size_t>(stop));
  EXPECT_EQ(read_run_status(dir / "split"), RunStatus::Stopped);
  auto second = run(synthetic_config(base), dir / "split", /*resume=*/true);
  EXPECT_EQ(second.status, RunStatus::Finished);
  EXPECT_EQ(metrics_without_seconds(dir / "whole"), metrics_without_seconds(dir / "split"));
}

INSTANTIATE_TEST_SUITE_P(Epochs, ResumeTest,
                         ::testing::Combine(::testing::Values(1, 2, 3),
                                            ::testing::Values("sgd", "innaprop", "amp_fp16", "adam")));

TEST(Trainer, ResumeWithoutCheckpointStartsOverAndACompleteRunIsLeftAlone) {
  TempDir dir;
  auto fresh = run(synthetic_config(), dir / "r", /*resume=*/true);
  EXPECT_EQ(fresh.status, RunStatus::Finished);
  auto before = read_text(dir / "r" / "metrics.csv");
  auto again = run(synthetic_config(), dir / "r", /*resume=*/true);
  EXPECT_EQ(again.status, RunStatus::Finished);
  EXPECT_EQ(again.rows.size(), 4u);
  EXPECT_EQ(read_text(dir / "r" / "metrics.csv"), before);
}

TEST(Trainer, AnExistingRunNeedsResume) {
  TempDir dir;
  run(synthetic_config({"train.epochs=1"}), dir.path());
  EXPECT_THAT(error_message([&] { run(synthetic_config({"train.epochs=1"}), dir.path()); }),
              HasSubstr("already holds a run (status finished); pass --resume"));
}

TEST(Trainer, ResumingWithADifferentConfigIsAnError) {
  TempDir dir;
  run(synthetic_config({"train.stop_after_epoch=1"}), dir.path());
  auto msg = error_message([&] { run(synthetic_config({"train.optimizer.lr=0.1"}), dir.path(), true); });
  EXPECT_THAT(msg, HasSubstr("config.json: the run was started with a different train.optimizer.lr"));
}

TEST(Trainer, CorruptOrTruncatedCheckpointIsAOneLineErrorNamingTheFile) {
  TempDir dir;
  run(synthetic_config({"train.stop_after_epoch=2"}), dir.path());
  const auto ckpt = dir / "checkpoint.pt";
  const auto bytes = read_text(ckpt);
  for (const std::string& damaged :
       {bytes.substr(0, bytes.size() / 2), std::string("not a zip file at all")}) {
    std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << damaged;
    auto msg = error_message([&] { run(synthetic_config(), dir.path(), true); });
    EXPECT_THAT(msg, HasSubstr(ckpt.string() + ": "));
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(read_run_status(dir.path()), RunStatus::Failed);
  }
}

TEST(Trainer, CheckpointOfAnotherModelIsIncompatible) {
  TempDir dir;
  run(synthetic_config({"train.stop_after_epoch=1"}), dir.path());
  Components other = synthetic_components();
  other.make_model = [](const config::ExperimentConfig&, const BatchSource& data, uint64_t) {
    torch::nn::Sequential net(torch::nn::Flatten(), torch::nn::Linear(64, data.num_classes()));
    Model m;
    m.module = net.ptr();
    m.forward = [net](const torch::Tensor& x) mutable { return net->forward(x); };
    return m;
  };
  RunOptions o;
  o.run_dir = dir.path();
  o.resume = true;
  o.progress = false;
  auto msg = error_message([&] { train_run(synthetic_config(), o, other); });
  EXPECT_THAT(msg, HasSubstr((dir / "checkpoint.pt").string() + ": incompatible checkpoint"));
}

TEST(Trainer, DivergenceIsRecordedAsAResult) {
  TempDir dir;
  auto outcome = run(synthetic_config({"train.optimizer.lr=1e30", "train.epochs=3"}), dir.path());
  EXPECT_EQ(outcome.status, RunStatus::Diverged);
  ASSERT_EQ(outcome.rows.size(), 3u);
  EXPECT_TRUE(outcome.rows[0].diverged);
  for (const auto& r : outcome.rows) {
    EXPECT_TRUE(std::isnan(r.train_loss));
    EXPECT_TRUE(r.diverged);
  }
  auto table = read_csv(dir / "metrics.csv");
  EXPECT_EQ(table.rows.back()[table.index("diverged")], "1");
  EXPECT_EQ(table.rows.back()[table.index("train_loss")], "nan");
  EXPECT_EQ(read_run_status(dir.path()), RunStatus::Diverged);
}

TEST(Trainer, UnavailableCudaDeviceIsAnErrorNamingExpDevice) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA is available here";
  TempDir dir;
  EXPECT_THAT(error_message([&] { run(synthetic_config({"exp.device=cuda:0"}), dir.path()); }),
              HasSubstr("exp.device: cuda:0 requested but CUDA is not available"));
}

TEST(Trainer, ExperimentRunsEachSeed) {
  TempDir dir;
  auto outcomes = train_experiment(synthetic_config({"train.runs=2", "train.epochs=1"}), dir.path(), false,
                                   synthetic_components());
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_TRUE(fs::exists(dir / "config.json"));
  auto r1 = nlohmann::json::parse(read_text(dir / "run-1" / "run.json"));
  EXPECT_EQ(r1["run_seed"], 1);
  EXPECT_EQ(outcomes[1].rows[0].run_id, 1);
}

TEST(TensorBatchSource, BatchesDependOnlyOnSeedAndEpoch) {
  auto collect = [&](uint64_t seed, int64_t epoch) {
    auto data = testing::synthetic_data(50, 10, seed, 16, 10);
    std::vector<torch::Tensor> ys;
    data->for_each_train_batch(epoch, [&](const Batch& b) { ys.push_back(b.targets.clone()); });
    return torch::cat(ys);
  };
  EXPECT_TRUE(torch::equal(collect(3, 2), collect(3, 2)));
  EXPECT_FALSE(torch::equal(collect(3, 2), collect(3, 1)));
  EXPECT_EQ(collect(0, 0).numel(), 50);
}

}  // namespace
}  // namespace tiebreak::train
