#include "tiebreak/train/trainer.h"

#include "support/test_support.h"
#include "tiebreak/config/options.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/train/precision.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include <cmath>
#include <fstream>
#include <limits>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::synthetic_components;
using testing::synthetic_config;
using tiebreak::testing::error_message;
using tiebreak::testing::metrics_without_seconds;
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
  EXPECT_EQ(table.header,
            (std::vector<std::string>{"run_id", "epoch", "train_loss", "train_accuracy", "test_loss",
                                      "test_accuracy", "beta", "batch_norm", "precision", "formulation",
                                      "optimizer", "lr", "seconds", "diverged", "filled"}));
  ASSERT_EQ(table.rows.size(), 5u);
  auto cell = [&](size_t row, const char* column) { return table.rows[row][table.index(column)]; };
  for (size_t e = 0; e < 5; ++e) {
    SCOPED_TRACE(e);
    EXPECT_EQ(cell(e, "run_id"), "0");
    EXPECT_EQ(cell(e, "epoch"), std::to_string(e));  // numbered from 0, as in the study
    EXPECT_EQ(cell(e, "beta"), "0");
    EXPECT_EQ(cell(e, "batch_norm"), "0");
    EXPECT_EQ(cell(e, "precision"), "fp32");
    EXPECT_EQ(cell(e, "formulation"), "pure");
    EXPECT_EQ(cell(e, "optimizer"), "sgd");
    EXPECT_EQ(cell(e, "lr"), "0.05");  // constant schedule
    EXPECT_EQ(cell(e, "diverged"), "0");
    EXPECT_EQ(cell(e, "filled"), "0");
    EXPECT_DOUBLE_EQ(std::stod(cell(e, "test_accuracy")), outcome.rows[e].test_accuracy);
    EXPECT_DOUBLE_EQ(std::stod(cell(e, "train_loss")), outcome.rows[e].train_loss);
  }
  auto info = nlohmann::json::parse(read_text(dir / "run.json"));
  EXPECT_EQ(info["status"], "finished");
  EXPECT_EQ(info["run_seed"], 0);
  EXPECT_EQ(info["device"], "cpu");
  EXPECT_TRUE(info["build"].contains("libtorch_version"));
  EXPECT_EQ(info["precision_plan"], describe(plan_for(config::Precision::Fp32), config::Precision::Fp32));
  EXPECT_EQ(read_run_status(dir.path()), RunStatus::Finished);
}

// train.half_compute=auto depends on the CPU, so the run records what it computed with.
TEST(Trainer, RunJsonRecordsHowASixteenBitRunComputed) {
  TempDir dir;
  run(synthetic_config({"train.precision=bf16", "train.epochs=1"}), dir / "auto");
  run(synthetic_config({"train.precision=bf16", "train.epochs=1", "train.half_compute=native"}),
      dir / "native");
  const auto plan = [&](const char* name) {
    return nlohmann::json::parse(read_text(dir / name / "run.json"))["precision_plan"].get<std::string>();
  };
  EXPECT_EQ(plan("auto"), describe(plan_for(config::Precision::Bf16), config::Precision::Bf16));
  EXPECT_THAT(plan("auto"), ::testing::HasSubstr("(train.half_compute=auto)"));
  EXPECT_THAT(plan("native"),
              ::testing::HasSubstr("LibTorch's own BFloat16 kernels (train.half_compute=native)"));
}

TEST(Metrics, FormatDurationIsHoursMinutesSecondsOrAQuestionMark) {
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(65.4), "0:01:05");
  EXPECT_EQ(format_duration(3599.6), "1:00:00");
  EXPECT_EQ(format_duration(90061), "25:01:01");
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "?");
  EXPECT_EQ(format_duration(std::nan("")), "?");
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
  const std::string before = read_text(dir / "split" / "metrics.csv");
  auto second = run(synthetic_config(base), dir / "split", /*resume=*/true);
  EXPECT_EQ(second.status, RunStatus::Finished);
  EXPECT_EQ(metrics_without_seconds(dir / "whole"), metrics_without_seconds(dir / "split"));
  // A resume, not a restart (which would give the same metrics: training is deterministic): the log says
  // where it continued, and the epochs trained before keep their rows byte for byte, wall-clock seconds
  // included, which a retrained epoch would not.
  EXPECT_THAT(read_text(dir / "split" / "train.log"),
              HasSubstr("resumed from " + (dir / "split" / "checkpoint.pt").string() + " after epoch " +
                        std::to_string(stop)));
  const std::string after = read_text(dir / "split" / "metrics.csv");
  ASSERT_GT(before.size(), 0u);
  EXPECT_EQ(after.substr(0, before.size()), before);
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

TEST(RunStatus, ReadsEveryStatusRunJsonCanHoldAndNothingElse) {
  TempDir dir;
  for (const auto status : {RunStatus::Running, RunStatus::Stopped, RunStatus::Finished, RunStatus::Diverged,
                            RunStatus::Failed, RunStatus::Interrupted}) {
    std::ofstream(dir / "run.json") << nlohmann::json{{"status", to_string(status)}}.dump();
    EXPECT_EQ(read_run_status(dir.path()), status) << to_string(status);
  }
  EXPECT_EQ(to_string(RunStatus::Diverged), "diverged");
  std::ofstream(dir / "run.json") << R"({"status": "done"})";
  EXPECT_FALSE(read_run_status(dir.path()).has_value());
}

TEST(Trainer, AnExistingRunNeedsResume) {
  TempDir dir;
  run(synthetic_config({"train.epochs=1"}), dir.path());
  EXPECT_THAT(error_message([&] { run(synthetic_config({"train.epochs=1"}), dir.path()); }),
              HasSubstr("already holds a run (status finished); resume it or choose another run directory"));
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
  other.make_model = [](const config::ExperimentConfig&, const data::Dataset& data, uint64_t) {
    return testing::sequential_model(
        torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(64, data.num_classes())));
  };
  RunOptions o;
  o.run_dir = dir.path();
  o.resume = true;
  o.progress = false;
  auto msg = error_message([&] { train_run(synthetic_config(), o, other); });
  EXPECT_THAT(msg, HasSubstr((dir / "checkpoint.pt").string() + ": incompatible checkpoint"));
}

TEST(Trainer, NonFiniteWeightsStopTheRunAndTheRestIsFilledNotCopied) {
  TempDir dir;
  auto outcome = run(synthetic_config({"train.optimizer.lr=1e30", "train.epochs=3"}), dir.path());
  EXPECT_EQ(outcome.status, RunStatus::Diverged);
  ASSERT_EQ(outcome.rows.size(), 3u);
  // Epoch 0 was trained (it is where the weights overflowed), epochs 1 and 2 were not.
  EXPECT_TRUE(outcome.rows[0].diverged);
  EXPECT_FALSE(outcome.rows[0].filled);
  EXPECT_FALSE(std::isnan(outcome.rows[0].train_accuracy));
  for (size_t e = 1; e < 3; ++e) {
    SCOPED_TRACE(e);
    const auto& r = outcome.rows[e];
    EXPECT_EQ(r.epoch, static_cast<int64_t>(e));
    EXPECT_TRUE(r.diverged);
    EXPECT_TRUE(r.filled);
    EXPECT_TRUE(std::isnan(r.train_loss));
    EXPECT_TRUE(std::isnan(r.train_accuracy)) << "a training accuracy in an epoch that was not trained";
    // The frozen model's test accuracy: the same evaluation of the same (non-finite) weights.
    EXPECT_EQ(r.test_accuracy, outcome.rows[0].test_accuracy);
  }
  auto table = read_csv(dir / "metrics.csv");
  EXPECT_EQ(table.rows[0][table.index("filled")], "0");
  EXPECT_EQ(table.rows.back()[table.index("filled")], "1");
  EXPECT_EQ(table.rows.back()[table.index("diverged")], "1");
  EXPECT_EQ(table.rows.back()[table.index("train_loss")], "nan");
  EXPECT_EQ(table.rows.back()[table.index("train_accuracy")], "nan");
  EXPECT_EQ(read_run_status(dir.path()), RunStatus::Diverged);
}

/// The synthetic model, whose logits are +inf on the first `poisoned` training steps (a forward overflow).
Components poisoned_components(int poisoned) {
  auto c = synthetic_components();
  c.make_model = [poisoned](const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t seed) {
    auto m = testing::synthetic_model(cfg, data, seed);
    auto steps = std::make_shared<int>(0);
    auto inner = m.forward;
    auto module = m.module;
    m.forward = [inner, module, steps, poisoned](const torch::Tensor& x) {
      auto logits = inner(x);
      if (module->is_training() && (*steps)++ < poisoned)
        return logits + std::numeric_limits<float>::infinity();
      return logits;
    };
    return m;
  };
  return c;
}

TEST(Trainer, MixedPrecisionTrainsOnAfterANonFiniteLossAsTheStudyDid) {
  TempDir dir;
  RunOptions o;
  o.run_dir = dir.path();
  o.progress = false;
  // Six steps per epoch: all of epoch 0 overflows, the loss scaler skips those steps, epoch 1 is clean.
  auto outcome =
      train_run(synthetic_config({"train.precision=amp_fp16", "train.epochs=3"}), o, poisoned_components(6));
  EXPECT_EQ(outcome.status, RunStatus::Finished);
  ASSERT_EQ(outcome.rows.size(), 3u);
  EXPECT_TRUE(outcome.rows[0].diverged);
  EXPECT_FALSE(std::isfinite(outcome.rows[0].train_loss));
  for (const auto& r : outcome.rows) EXPECT_FALSE(r.filled);
  for (size_t e = 1; e < 3; ++e) {
    EXPECT_FALSE(outcome.rows[e].diverged) << e;
    EXPECT_TRUE(std::isfinite(outcome.rows[e].train_loss)) << e;
  }
  EXPECT_LT(outcome.rows[2].train_loss, outcome.rows[1].train_loss);

  // The same overflow in fp32 reaches the weights: the run stops there.
  TempDir fp32;
  o.run_dir = fp32.path();
  auto stopped = train_run(synthetic_config({"train.epochs=3"}), o, poisoned_components(6));
  EXPECT_EQ(stopped.status, RunStatus::Diverged);
  EXPECT_TRUE(stopped.rows[1].filled);
}

TEST(Trainer, MixedPrecisionEvaluatesInFp32WithoutAutocast) {
  // Records, per forward, whether the module was training and whether CPU autocast was on.
  auto seen = std::make_shared<std::vector<std::pair<bool, bool>>>();
  auto c = synthetic_components();
  c.make_model = [seen](const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t seed) {
    auto m = testing::synthetic_model(cfg, data, seed);
    auto inner = m.forward;
    auto module = m.module;
    m.forward = [inner, module, seen](const torch::Tensor& x) {
      seen->emplace_back(module->is_training(), at::autocast::is_autocast_enabled(at::kCPU));
      auto logits = inner(x);
      if (!module->is_training()) EXPECT_EQ(logits.scalar_type(), at::kFloat);
      return logits;
    };
    return m;
  };
  TempDir dir;
  RunOptions o;
  o.run_dir = dir.path();
  o.progress = false;
  train_run(synthetic_config({"train.precision=amp_fp16", "train.epochs=1"}), o, c);
  int training = 0, evaluating = 0;
  for (const auto& [is_training, autocast] : *seen) {
    if (is_training) {
      ++training;
      EXPECT_TRUE(autocast) << "training forward without autocast";
    } else {
      ++evaluating;
      EXPECT_FALSE(autocast) << "evaluation under autocast";
    }
  }
  EXPECT_EQ(training, 6);    // 192 / 32
  EXPECT_EQ(evaluating, 2);  // 96 / 64, rounded up
}

TEST(Trainer, EpochLossIsTheMeanOfTheBatchLossesAsInTheStudy) {
  // 200 examples in batches of 64: three of 64 and one of 8, so the mean of the batch losses differs from the
  // mean over examples. With lr 1e-30 the weights never change, so the batch losses can be recomputed.
  auto c = synthetic_components();
  c.make_data = [](const config::ExperimentConfig&, const data::DataOptions& options) {
    return testing::synthetic_data(200, 50, options);
  };
  const auto cfg = synthetic_config({"train.epochs=1", "data.batch_size=64", "data.test_batch_size=20",
                                     "train.optimizer.lr=1e-30", "train.optimizer.momentum=0"});
  TempDir dir;
  RunOptions o;
  o.run_dir = dir.path();
  o.progress = false;
  const auto row = train_run(cfg, o, c).rows.at(0);

  auto data = c.make_data(cfg.config, config::to_data_options(cfg.config));
  auto model = c.make_model(cfg.config, *data, 0);
  torch::NoGradGuard no_grad;
  std::vector<double> batch_losses;
  int64_t examples = 0;
  double example_sum = 0;
  auto train_stream = data->epoch(data::Split::Train, 0);
  while (auto b = train_stream->next()) {
    const double l = torch::nn::functional::cross_entropy(model.forward(b->images), b->labels).item<double>();
    batch_losses.push_back(l);
    example_sum += l * b->labels.size(0);
    examples += b->labels.size(0);
  }
  ASSERT_EQ(batch_losses.size(), 4u);
  double mean = 0;
  for (double l : batch_losses) mean += l / 4;
  EXPECT_NEAR(row.train_loss, mean, 1e-6);
  EXPECT_GT(std::abs(mean - example_sum / examples), 1e-4) << "the data do not tell the two means apart";
  std::vector<double> test_losses;
  model.module->eval();
  auto test_stream = data->epoch(data::Split::Test, 0);
  while (auto b = test_stream->next()) {
    test_losses.push_back(
        torch::nn::functional::cross_entropy(model.forward(b->images), b->labels).item<double>());
  }
  ASSERT_EQ(test_losses.size(), 3u);  // 20, 20, 10
  EXPECT_NEAR(row.test_loss, (test_losses[0] + test_losses[1] + test_losses[2]) / 3, 1e-6);
}

TEST(Trainer, StudyMetricsFileHasTheStudysColumnsAndFormats) {
  TempDir dir;
  run(synthetic_config({"train.epochs=3", "nonsmooth.beta=1000", "train.runs=2"}), dir.path(), false, 1);
  // The study's notebooks read these files with pandas: exactly its header, epochs from 0, maxpool a Python
  // float, batch_norm a Python bool.
  auto table = read_csv(dir / "metrics_study.csv");
  EXPECT_EQ(table.header, (std::vector<std::string>{"run_id", "epoch", "train_loss", "train_accuracy",
                                                    "test_loss", "test_accuracy", "maxpool", "batch_norm"}));
  ASSERT_EQ(table.rows.size(), 3u);
  auto ours = read_csv(dir / "metrics.csv");
  for (size_t e = 0; e < 3; ++e) {
    SCOPED_TRACE(e);
    const auto& row = table.rows[e];
    EXPECT_EQ(row[0], "1");
    EXPECT_EQ(row[1], std::to_string(e));
    EXPECT_EQ(row[6], "1000.0");
    EXPECT_EQ(row[7], "False");
    for (size_t k : {2, 3, 4, 5}) {
      EXPECT_NE(row[k].find_first_of(".en"), std::string::npos) << "not a Python float: " << row[k];
      EXPECT_DOUBLE_EQ(std::stod(row[k]), std::stod(ours.rows[e][k]));
    }
    const double accuracy = std::stod(row[5]);
    EXPECT_GE(accuracy, 0.0);
    EXPECT_LE(accuracy, 1.0);
  }
}

TEST(Metrics, PythonFloatIsWhatReprWrites) {
  // repr() of these floats in CPython 3.
  EXPECT_EQ(python_float(0.0), "0.0");
  EXPECT_EQ(python_float(-0.0), "-0.0");
  EXPECT_EQ(python_float(1.0), "1.0");
  EXPECT_EQ(python_float(10000.0), "10000.0");
  EXPECT_EQ(python_float(0.5), "0.5");
  EXPECT_EQ(python_float(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(python_float(1e-4), "0.0001");
  EXPECT_EQ(python_float(1e-5), "1e-05");
  EXPECT_EQ(python_float(1.5e-7), "1.5e-07");
  EXPECT_EQ(python_float(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float(1e16), "1e+16");
  EXPECT_EQ(python_float(0.9789), "0.9789");
  EXPECT_EQ(python_float(std::nan("")), "nan");
  EXPECT_EQ(python_float(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(Trainer, PairedSeedsAreSharedAcrossBetaAndIndependentSeedsAreNot) {
  const auto paired0 = synthetic_config({"nonsmooth.beta=0", "train.seed=5"});
  const auto paired1 = synthetic_config({"nonsmooth.beta=1", "train.seed=5"});
  EXPECT_EQ(run_seed(paired0, 0), 5u);
  EXPECT_EQ(run_seed(paired1, 3), 8u);
  EXPECT_EQ(run_seed(paired0, 3), run_seed(paired1, 3));

  const auto independent0 =
      synthetic_config({"nonsmooth.beta=0", "train.seed=5", "train.seeding=independent"});
  const auto independent1 =
      synthetic_config({"nonsmooth.beta=1", "train.seed=5", "train.seeding=independent"});
  EXPECT_NE(run_seed(independent0, 0), run_seed(independent1, 0));
  EXPECT_NE(run_seed(independent0, 0), run_seed(independent0, 1));
  EXPECT_NE(run_seed(independent0, 0),
            run_seed(synthetic_config({"nonsmooth.beta=0", "train.seed=6", "train.seeding=independent"}), 0));
  // Reproducible, and independent of how long or where the configuration runs.
  EXPECT_EQ(run_seed(independent0, 2),
            run_seed(synthetic_config({"nonsmooth.beta=0", "train.seed=5", "train.seeding=independent",
                                       "train.epochs=50", "train.runs=7", "exp.threads=2"}),
                     2));
  for (int64_t k = 0; k < 20; ++k) EXPECT_LT(run_seed(independent1, k), uint64_t{1} << 63);

  // The seed reaches the run: different initial weights, so different metrics.
  TempDir dir;
  run(independent0, dir / "a");
  run(independent1, dir / "b");
  auto a = nlohmann::json::parse(read_text(dir / "a" / "run.json"));
  EXPECT_EQ(a["run_seed"].get<uint64_t>(), run_seed(independent0, 0));
  EXPECT_EQ(a["seeds"]["seeding"], "independent");
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
  // Run 1 starts from other weights than run 0.
  EXPECT_NE(outcomes[0].rows[0].train_loss, outcomes[1].rows[0].train_loss);
}

TEST(TrainerData, BatchesDependOnlyOnSeedAndEpoch) {
  // What makes a resumed run equal an uninterrupted one: the trainer's data (a data::TensorDataset here)
  // gives epoch e the same batches whatever happened before, and the seed reaches the order.
  auto collect = [&](uint64_t seed, int64_t epoch) {
    auto data = testing::synthetic_data(50, 10, seed, 16, 10);
    std::vector<torch::Tensor> ys;
    auto stream = data->epoch(data::Split::Train, epoch);
    while (auto b = stream->next()) ys.push_back(b->labels.clone());
    return torch::cat(ys);
  };
  EXPECT_TRUE(torch::equal(collect(3, 2), collect(3, 2)));
  EXPECT_FALSE(torch::equal(collect(3, 2), collect(3, 1)));
  EXPECT_FALSE(torch::equal(collect(3, 2), collect(4, 2)));  // the seed reaches the order too
  EXPECT_EQ(collect(0, 0).numel(), 50);
}

TEST(TrainerData, RunJsonRecordsTheGeneratorOfTheDataThatRan) {
  TempDir dir;
  run(synthetic_config({"train.epochs=1"}), dir / "shuffled");
  run(synthetic_config({"train.epochs=1", "data.shuffle=false"}), dir / "unshuffled");
  auto seeds = [&](const char* name) {
    return nlohmann::json::parse(read_text(dir / name / "run.json")).at("seeds").at("shuffle");
  };
  EXPECT_EQ(seeds("shuffled"), "data::epoch_generator(run_seed, epoch)");
  // The synthetic task has no augmentation: unshuffled, nothing is drawn.
  EXPECT_EQ(seeds("unshuffled"), "none (unshuffled, no augmentation)");
}

}  // namespace
}  // namespace tiebreak::train
