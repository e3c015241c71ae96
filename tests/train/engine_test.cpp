// The training engine every loop runs (trainer, zones, diverge): EpochMeter, train_epoch, evaluate.
#include "tiebreak/train/engine.h"

#include "support/test_support.h"
#include "tiebreak/train/optimizer.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>

#include <gtest/gtest.h>

#include <cmath>

namespace tiebreak::train {
namespace {

StepOutput step(std::vector<float> loss_and_logits, std::vector<int64_t> targets) {
  const auto n = static_cast<int64_t>(targets.size());
  auto all = torch::tensor(loss_and_logits);
  return {all.slice(0, 1).reshape({n, 2}), all[0], torch::tensor(targets)};
}

TEST(EpochMeter, LossIsTheMeanOfBatchLossesAndAccuracyCountsExamples) {
  EpochMeter meter(torch::kCPU);
  // Batch 1: loss 1.0, 2 examples, both right; batch 2: loss 4.0, 1 example, wrong.
  meter.add(step({1.0f, 0.f, 1.f, 1.f, 0.f}, {1, 0}));
  meter.add(step({4.0f, 1.f, 0.f}, {1}));
  EXPECT_EQ(meter.examples(), 3);
  EXPECT_EQ(meter.batches(), 2);
  EXPECT_DOUBLE_EQ(meter.running_loss(), 2.5);  // (1 + 4) / 2 batches, not / 3 examples
  EXPECT_DOUBLE_EQ(meter.running_accuracy(), 2.0 / 3.0);
  const auto r = meter.reduce(nullptr);
  EXPECT_DOUBLE_EQ(r.loss, 2.5);
  EXPECT_DOUBLE_EQ(r.accuracy, 2.0 / 3.0);
  EXPECT_EQ(r.examples, 3);
  EXPECT_EQ(r.batches, 2);
  EXPECT_TRUE(r.ties.empty());

  const auto empty = EpochMeter(torch::kCPU).reduce(nullptr);
  EXPECT_TRUE(std::isnan(empty.loss));
  EXPECT_TRUE(std::isnan(empty.accuracy));
  EXPECT_EQ(empty.batches, 0);
}

TEST(Engine, TrainEpochIsTrainStepOverTheEpochAndEvaluateTheTestPass) {
  auto cfg = testing::synthetic_config().config;
  const auto plan = plan_for(config::Precision::Fp32, config::HalfCompute::Fp32Accumulate);
  auto run_epoch = [&](bool through_engine) {
    auto data = testing::synthetic_data();
    Model model = testing::synthetic_model(cfg, *data, 3);
    auto optimizer = make_optimizer(cfg.train.optimizer, model.module->parameters());
    double loss_sum = 0;
    int64_t batches = 0;
    if (through_engine) {
      int64_t steps = 0;
      TrainEpochHooks hooks;
      hooks.after_step = [&](const EpochMeter& m) { steps = m.batches(); };
      const auto r = train_epoch(model, *optimizer, plan, torch::kCPU, *data, 1, nullptr, hooks);
      EXPECT_EQ(steps, 6);  // 192 / 32
      EXPECT_EQ(r.examples, 192);
      EXPECT_EQ(r.batches, 6);
      EXPECT_TRUE(model.module->is_training());
      loss_sum = r.loss * static_cast<double>(r.batches);
      batches = r.batches;
    } else {
      model.module->train();
      auto stream = data->epoch(data::Split::Train, 1);
      while (auto b = stream->next()) {
        loss_sum += train_step(model, *optimizer, plan, torch::kCPU, *b).loss.item<double>();
        ++batches;
      }
    }
    const auto tested = evaluate(model, *data, plan, torch::kCPU, nullptr);
    EXPECT_FALSE(model.module->is_training());
    EXPECT_EQ(tested.examples, 96);
    // The test pass by hand: argmax of the logits against the targets.
    int64_t correct = 0;
    {
      torch::NoGradGuard no_grad;
      auto stream = data->epoch(data::Split::Test, 0);
      while (auto b = stream->next())
        correct += model.forward(b->images).argmax(1).eq(b->labels).sum().item<int64_t>();
    }
    EXPECT_DOUBLE_EQ(tested.accuracy, static_cast<double>(correct) / 96.0);
    return std::make_tuple(loss_sum / static_cast<double>(batches), tested.loss, tested.accuracy);
  };
  const auto [train_a, test_loss_a, test_acc_a] = run_epoch(true);
  const auto [train_b, test_loss_b, test_acc_b] = run_epoch(false);
  EXPECT_DOUBLE_EQ(train_a, train_b);
  EXPECT_EQ(test_loss_a, test_loss_b);
  EXPECT_EQ(test_acc_a, test_acc_b);
  EXPECT_GT(test_acc_a, 1.0 / 3.0);  // learning, not chance
}

TEST(Engine, AnEpochMustYieldWhatItsDatasetPromises) {
  // Options that promise the first 64 examples of each epoch over streams that deliver all 192 (a dataset
  // that ignores its limits, or its shard on a rank): the engine refuses it before the first step instead
  // of training on more than the config says.
  auto cfg = testing::synthetic_config().config;
  const auto plan = plan_for(config::Precision::Fp32, config::HalfCompute::Fp32Accumulate);
  auto inner = testing::synthetic_data();
  testing::ForwardingDataset ignores(inner,
                                     data::DataOptions(inner->options()).train_limit(64).test_limit(32));
  Model model = testing::synthetic_model(cfg, ignores, 3);
  auto optimizer = make_optimizer(cfg.train.optimizer, model.module->parameters());
  const auto before = model.module->parameters()[0].clone();
  EXPECT_THAT(
      tiebreak::testing::error_message(
          [&] { train_epoch(model, *optimizer, plan, torch::kCPU, ignores, 0, nullptr); }),
      ::testing::HasSubstr("data 'synthetic': the train stream of epoch 0 for shard 0 of 1 yields 192 "
                           "examples, expected 64"));
  EXPECT_TRUE(torch::equal(model.module->parameters()[0], before)) << "no step before the check";
  EXPECT_THAT(
      tiebreak::testing::error_message([&] { evaluate(model, ignores, plan, torch::kCPU, nullptr); }),
      ::testing::HasSubstr("the test stream of epoch 0 for shard 0 of 1 yields 96 examples, expected 32"));
  // The same options honoured: 64 examples in two steps, 32 test examples.
  auto limited =
      testing::synthetic_data(192, 96, data::DataOptions(inner->options()).train_limit(64).test_limit(32));
  const auto trained = train_epoch(model, *optimizer, plan, torch::kCPU, *limited, 0, nullptr);
  EXPECT_EQ(trained.examples, 64);
  EXPECT_EQ(trained.batches, 2);
  EXPECT_EQ(evaluate(model, *limited, plan, torch::kCPU, nullptr).examples, 32);
}

}  // namespace
}  // namespace tiebreak::train
