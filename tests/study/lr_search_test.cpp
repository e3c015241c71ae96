#include "tiebreak/study/lr_search.h"

#include "support/test_support.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/train/trainer.h"
#include "train/synthetic_task.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

namespace tiebreak::train {
namespace {

using namespace tiebreak::study;

namespace fs = std::filesystem;
using tiebreak::testing::TempDir;

TEST(MedianPruning, PrunesBelowTheMedianOnceEnoughTrialsReachedTheEpoch) {
  std::vector<std::vector<double>> history{{0.5, 0.7}, {0.6, 0.8}, {0.4}};
  // Epoch 0: three earlier values (0.4, 0.5, 0.6), median 0.5.
  EXPECT_TRUE(should_prune(history, 0, 0.45, 3));
  EXPECT_FALSE(should_prune(history, 0, 0.55, 3));
  EXPECT_FALSE(should_prune(history, 0, 0.5, 3));  // at the median: kept
  // Epoch 1: only two trials got there.
  EXPECT_FALSE(should_prune(history, 1, 0.1, 3));
  EXPECT_TRUE(should_prune(history, 1, 0.74, 2));  // median of 0.7 and 0.8 is 0.75
  EXPECT_FALSE(should_prune({}, 0, 0.0, 0));
  EXPECT_TRUE(should_prune(history, 0, std::nan(""), 1));
}

TEST(LrSampling, LogUniformInRangeAndReproducible) {
  std::vector<double> logs;
  for (int t = 0; t < 200; ++t) {
    double lr = sample_learning_rate(0, t, 1e-5, 1e-1);
    EXPECT_GE(lr, 1e-5);
    EXPECT_LE(lr, 1e-1);
    EXPECT_EQ(lr, sample_learning_rate(0, t, 1e-5, 1e-1));
    logs.push_back(std::log10(lr));
  }
  // Log-uniform: about half the samples below the geometric middle 1e-3.
  auto below = std::count_if(logs.begin(), logs.end(), [](double l) { return l < -3; });
  EXPECT_GT(below, 60);
  EXPECT_LT(below, 140);
  EXPECT_NE(sample_learning_rate(0, 0, 1e-5, 1e-1), sample_learning_rate(1, 0, 1e-5, 1e-1));
}

/// A quiet search over the synthetic task's config (written to `dir`), `trials` trials of `epochs` epochs
/// with rates in [1e-4, `high`], written to `dir`/search.
LrSearchOptions synthetic_search(const fs::path& dir, int64_t trials, int64_t epochs, double high) {
  const auto config = dir / "synthetic.json";
  std::ofstream(config) << testing::synthetic_config().json.dump();
  LrSearchOptions o;
  o.config_path = config;
  o.trials = trials;
  o.epochs = epochs;
  o.low = 1e-4;
  o.high = high;
  o.out_dir = dir / "search";
  o.verbose = false;
  return o;
}

TEST(LrSearch, WritesTrialsAndTheBestRatePerBetaAndReusesFinishedTrials) {
  TempDir dir;
  auto o = synthetic_search(dir.path(), 4, 2, 0.5);
  o.betas = {0, 1};
  o.startup_trials = 1;
  // Which β each built model had: the search must train β = 1's trials with β = 1, and a second search must
  // build no model for the trials it reuses.
  std::map<double, int> built;
  auto components = testing::synthetic_components();
  components.make_model = [&built, make = components.make_model](const config::ExperimentConfig& c,
                                                                 const data::Dataset& data, uint64_t seed) {
    ++built[c.nonsmooth.beta];
    return make(c, data, seed);
  };
  auto trials = run_lr_search(o, components);
  EXPECT_GE(built[0], 4);
  EXPECT_GE(built[1], 4);
  ASSERT_EQ(trials.size(), 8u);
  auto best = read_csv(dir / "search" / "best_lr.csv");
  EXPECT_EQ(best.header, (std::vector<std::string>{"beta", "lr", "accuracy"}));
  ASSERT_EQ(best.rows.size(), 2u);
  EXPECT_EQ(best.rows[0][0], "0");
  EXPECT_EQ(best.rows[1][0], "1");
  for (size_t b = 0; b < 2; ++b) {
    double best_accuracy = -1, best_lr = 0;
    for (const auto& t : trials) {
      if (t.beta == o.betas[b] && !t.pruned && t.accuracy > best_accuracy) {
        best_accuracy = t.accuracy;
        best_lr = t.lr;
      }
    }
    EXPECT_DOUBLE_EQ(std::stod(best.rows[b][1]), best_lr);
    EXPECT_DOUBLE_EQ(std::stod(best.rows[b][2]), best_accuracy);
  }
  for (const auto& t : trials) {
    if (t.pruned) {
      EXPECT_LT(t.epochs_done, 2);
    } else {
      EXPECT_EQ(t.epochs_done, 2);
    }
  }
  EXPECT_EQ(read_csv(dir / "search" / "trials.csv").rows.size(), 8u);
  const auto trials_csv = read_text(dir / "search" / "trials.csv");
  const auto best_csv = read_text(dir / "search" / "best_lr.csv");
  built.clear();
  auto again = run_lr_search(o, components);
  // Reused, not retrained (training is deterministic, so equal numbers alone would not tell): at most the
  // one model that checks the config can be built.
  EXPECT_EQ(built[1], 0);
  EXPECT_LE(built[0], 1);
  EXPECT_EQ(read_text(dir / "search" / "trials.csv"), trials_csv);
  EXPECT_EQ(read_text(dir / "search" / "best_lr.csv"), best_csv);
  ASSERT_EQ(again.size(), trials.size());
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(again[i].lr, trials[i].lr);
    EXPECT_EQ(again[i].accuracy, trials[i].accuracy);
    EXPECT_EQ(again[i].pruned, trials[i].pruned);
  }
}

// One trial that fails (here: its model cannot be built above a learning rate,
// standing in for a step that overflows) is recorded as failed; the search
// goes on, and the best rate comes from the trials that finished.
TEST(LrSearch, AFailedTrialIsRecordedAndTheSearchGoesOn) {
  TempDir dir;
  auto o = synthetic_search(dir.path(), 6, 1, 1.0);
  auto components = testing::synthetic_components();
  auto make_model = components.make_model;
  components.make_model = [make_model](const config::ExperimentConfig& cfg, const data::Dataset& data,
                                       uint64_t seed) {
    // A failure at the first training step, as a learning rate that overflows one would be (the checks
    // before the search build the model and run it in eval mode, as they do for real).
    Model m = make_model(cfg, data, seed);
    const double lr = cfg.train.optimizer.lr;
    m.forward = [forward = m.forward, module = m.module, lr](const torch::Tensor& x) {
      TORCH_CHECK(!module->is_training() || lr <= 1e-2, "injected failure for lr ", lr);
      return forward(x);
    };
    return m;
  };
  size_t expected_failures = 0;
  for (int64_t t = 0; t < o.trials; ++t)
    expected_failures += sample_learning_rate(0, t, o.low, o.high) > 1e-2;
  ASSERT_GT(expected_failures, 0u);
  ASSERT_LT(expected_failures, static_cast<size_t>(o.trials));

  auto trials = run_lr_search(o, components);
  ASSERT_EQ(trials.size(), static_cast<size_t>(o.trials));
  auto csv = read_csv(dir / "search" / "trials.csv");
  ASSERT_EQ(csv.rows.size(), trials.size());
  size_t failures = 0;
  for (size_t i = 0; i < trials.size(); ++i) {
    const bool should_fail = trials[i].lr > 1e-2;
    EXPECT_EQ(trials[i].failed, should_fail) << trials[i].lr;
    EXPECT_EQ(csv.rows[i][csv.index("failed")], should_fail ? "1" : "0");
    if (should_fail) {
      ++failures;
      EXPECT_NE(trials[i].error.find("injected failure"), std::string::npos) << trials[i].error;
      EXPECT_EQ(read_run_status(dir / "search" / "beta=0" / ("trial-" + std::to_string(i))),
                RunStatus::Failed);
    }
  }
  EXPECT_EQ(failures, expected_failures);
  auto best = read_csv(dir / "search" / "best_lr.csv");
  ASSERT_EQ(best.rows.size(), 1u);
  EXPECT_LE(std::stod(best.rows[0][1]), 1e-2);

  // Every trial failing has no answer: an error, after the files are written.
  o.out_dir = dir / "hopeless";
  o.low = 0.5;
  EXPECT_THROW(run_lr_search(o, components), c10::Error);
  EXPECT_EQ(read_csv(dir / "hopeless" / "trials.csv").rows.size(), static_cast<size_t>(o.trials));
}

}  // namespace
}  // namespace tiebreak::train
