#include "tiebreak/core/csv.h"
#include "tiebreak/train/metrics.h"

#include "data/fixtures.h"
#include "distributed/ranks.h"
#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tiebreak::distributed {
namespace {

namespace fs = std::filesystem;
using tiebreak::testing::TempDir;

// The shipped configs/paper/imagenet_resnet50_amp.json, launched as two Gloo
// ranks on an ImageNet-layout folder written by the test: ResNet50 at a tiny
// crop, fp32 on the CPU (the GPU run is amp_fp16 over NCCL), a few steps.
TEST(DataParallelImageNet, PaperConfigTrainsAFewStepsOnTwoRanks) {
  TempDir dir;
  tiebreak::testing::write_tiny_imagenet(dir / "imagenet", 4, 2);
  const fs::path config =
      tiebreak::testing::source_dir() / "configs" / "paper" / "imagenet_resnet50_amp.json";
  std::vector<std::string> args{"train", config.string(), "--out", (dir / "out").string(), "--no-progress"};
  for (const std::string& set : std::vector<std::string>{
           "data.root=" + dir.path().string(), "data.crop_size=32", "data.resize_size=36",
           "data.batch_size=4", "data.test_batch_size=3", "data.num_workers=1", "train.precision=fp32",
           // lr 0.1 is for global batches of 512; batches of 4 through BatchNorm would blow up.
           "train.optimizer.lr=0.001", "train.epochs=1", "exp.device=cpu", "exp.threads=1",
           "exp.checkpoint=false", "exp.distributed.timeout_seconds=120"}) {
    args.push_back("--set");
    args.push_back(set);
  }
  auto ranks = testing::spawn_ranks(2, args, dir.path(), testing::free_port());
  testing::wait_all(ranks, std::chrono::seconds(600));
  for (size_t r = 0; r < ranks.size(); ++r)
    ASSERT_EQ(ranks[r].exit_code, 0) << "rank " << r << ": " << testing::read_file(ranks[r].err);
  auto run = nlohmann::json::parse(testing::read_file(dir / "out" / "run-0" / "run.json"));
  EXPECT_EQ(run.at("status"), "finished");
  EXPECT_EQ(run.at("distributed").at("world_size"), 2);
  // 12 training images in global batches of 4: 3 steps of 2 images per rank; all 6 test images.
  const auto log = testing::read_file(dir / "out" / "run-0" / "train.log");
  EXPECT_THAT(
      log,
      ::testing::HasSubstr(
          "imagenet (6 train / 3 test examples per epoch) on each of 2 ranks, 2 examples per rank and step"));
  auto metrics = tiebreak::read_csv(dir / "out" / "run-0" / "metrics.csv");
  ASSERT_EQ(metrics.rows.size(), 1u);
  EXPECT_TRUE(std::isfinite(std::stod(metrics.rows[0][metrics.index("train_loss")])));
  // (The test loss is not checked: the fixture's solid-colour images give BatchNorm zero variance, so
  // ResNet50 in eval mode overflows on them with one process as well as with two.)
}

}  // namespace
}  // namespace tiebreak::distributed
