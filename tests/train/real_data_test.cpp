// The light suite's real-data check (the heavy suite trains longer): LeNet-5 on the complete MNIST through
// the default components, as `tiebreak train` runs it. Skips cleanly without ../shared/data.
#include "support/test_support.h"
#include "tiebreak/train/trainer.h"

#include <gtest/gtest.h>

namespace tiebreak::train {
namespace {

TEST(TrainRealData, LeNet5LearnsMnistInAHundredStepsAndCountsTies) {
  TIEBREAK_REQUIRE_SHARED_DATA(images, "mnist/train-images-idx3-ubyte.gz");
  const nlohmann::json j = {
      {"data",
       {{"dataset", "mnist"},
        {"root", images.parent_path().parent_path().string()},
        {"batch_size", 64},
        {"test_batch_size", 1000},
        {"train_limit", 6144},
        {"test_limit", 1000}}},
      {"model", {{"name", "lenet5"}}},
      {"nonsmooth", {{"beta", 0}, {"formulation", "mixture"}}},
      {"train", {{"epochs", 1}, {"optimizer", {{"name", "sgd"}, {"lr", 0.05}, {"momentum", 0.9}}}}},
      {"exp", {{"device", "cpu"}, {"deterministic", true}, {"threads", 1}}}};
  tiebreak::testing::TempDir dir;
  RunOptions options;
  options.run_dir = dir / "run-0";
  options.progress = false;
  const auto outcome = train_run(config::config_from_json(j, "mnist-light"), options, default_components());
  ASSERT_EQ(outcome.status, RunStatus::Finished);
  ASSERT_EQ(outcome.rows.size(), 1u);
  const auto& row = outcome.rows[0];
  // 96 steps of 64 images take LeNet-5 from chance (10 %) to about 91 % on the first 1,000 test images
  // (measured: 90.9 % with these settings); a pipeline that scrambles images, labels or gradients stays
  // near chance.
  EXPECT_GT(row.test_accuracy, 0.85);
  EXPECT_LT(row.test_loss, 0.5);
  // Both pooling layers count ties (MNIST's constant background ties whole windows): 0 < f <= 1.
  ASSERT_EQ(row.ties.size(), 2u);
  for (const auto& [name, fraction] : row.ties) {
    EXPECT_GT(fraction, 0.0) << name;
    EXPECT_LE(fraction, 1.0) << name;
  }
}

}  // namespace
}  // namespace tiebreak::train
