#include "support/test_support.h"
#include "tiebreak/train/trainer.h"

#include <gtest/gtest.h>

namespace tiebreak::train {
namespace {

using tiebreak::testing::TempDir;

// One epoch of LeNet-5 with SGD in fp32 on the real MNIST reaches about 98% test
// accuracy (the study's setting: momentum 0.9, weight decay 5e-4, its β = 0 rate).
TEST(TrainHeavy, LeNet5OnMnistReaches98PercentInOneEpoch) {
  TIEBREAK_REQUIRE_SHARED_DATA(images, "mnist/train-images-idx3-ubyte.gz");
  TempDir dir;
  nlohmann::json j = {
      {"data", {{"dataset", "mnist"}, {"root", images_root->string()}, {"batch_size", 128}}},
      {"model", {{"name", "lenet5"}}},
      {"train",
       {{"precision", "fp32"},
        {"epochs", 1},
        {"optimizer", {{"name", "sgd"}, {"lr", 0.035}, {"momentum", 0.9}, {"weight_decay", 5e-4}}}}},
      {"exp", {{"device", "cpu"}, {"deterministic", true}}}};
  RunOptions o;
  o.run_dir = dir / "run-0";
  o.progress = false;
  auto outcome = train_run(config::config_from_json(j, "heavy"), o, default_components());
  ASSERT_EQ(outcome.status, RunStatus::Finished);
  ASSERT_EQ(outcome.rows.size(), 1u);
  EXPECT_GT(outcome.rows[0].test_accuracy, 0.97);
  EXPECT_LT(outcome.rows[0].train_loss, 0.5);
  // LeNet-5's two pooling layers report their tied-window fractions.
  ASSERT_EQ(outcome.rows[0].ties.size(), 2u);
  for (const auto& [name, fraction] : outcome.rows[0].ties) {
    EXPECT_GT(fraction, 0.0) << name;
    EXPECT_LE(fraction, 1.0) << name;
  }
}

}  // namespace
}  // namespace tiebreak::train
