#include "tiebreak/study/sweep.h"
#include "tiebreak/train/trainer.h"

#include "support/test_support.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/study/compare.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>

namespace tiebreak::train {
namespace {

using namespace tiebreak::study;

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using tiebreak::testing::error_message;
using tiebreak::testing::TempDir;

TEST(Grid, ParsesAxesAndExpandsTheProductFirstAxisSlowest) {
  auto beta = parse_grid_axis("nonsmooth.beta=0,1,1000");
  EXPECT_EQ(beta.key, "nonsmooth.beta");
  ASSERT_EQ(beta.values.size(), 3u);
  EXPECT_EQ(beta.values[2], 1000);
  auto prec = parse_grid_axis("train.precision=fp16,fp32");
  EXPECT_EQ(prec.values[0], "fp16");
  auto points = expand_grid({beta, prec});
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[0].name, "beta=0_precision=fp16");
  EXPECT_EQ(points[1].name, "beta=0_precision=fp32");
  EXPECT_EQ(points[5].name, "beta=1000_precision=fp32");
  EXPECT_EQ(points[5].assignments,
            (std::vector<std::string>{"nonsmooth.beta=1000", "train.precision=\"fp32\""}));
}

TEST(Grid, SharedLastComponentsUseTheWholeKey) {
  auto points =
      expand_grid({parse_grid_axis("nonsmooth.beta=1"), parse_grid_axis("train.optimizer.beta=0.5")});
  EXPECT_EQ(points[0].name, "nonsmooth.beta=1_train.optimizer.beta=0.5");
}

TEST(Grid, MalformedAxesAreErrors) {
  const auto malformed = error_message([] { parse_grid_axis("nonsmooth.beta"); });
  EXPECT_THAT(malformed, HasSubstr("nonsmooth.beta: expected key=v1,v2"));
  // The library names the value; the CLI names the flag it came from (cli_test).
  EXPECT_THAT(malformed, Not(HasSubstr("--grid")));
  EXPECT_THAT(error_message([] { parse_grid_axis("nonsmooth.beta=1,,2"); }), HasSubstr("empty value"));
  EXPECT_THAT(error_message([] { parse_grid_axis("nonsmooth.beta=1,1"); }), HasSubstr("appears twice"));
  EXPECT_THAT(error_message([] {
                expand_grid({parse_grid_axis("nonsmooth.beta=1"), parse_grid_axis("nonsmooth.beta=2")});
              }),
              HasSubstr("nonsmooth.beta: the same key is on two grid axes"));
  // The keys are the schema's: a misspelt one is refused before any run starts.
  EXPECT_THAT(error_message([] { parse_grid_axis("nonsmooth.bta=0,1"); }),
              HasSubstr("nonsmooth.bta=0,1: nonsmooth.bta is not a config key"));
  EXPECT_THAT(error_message([] { parse_grid_axis("model.stem_pool=2,3"); }),
              HasSubstr("model.stem_pool is not a config key"));
}

TEST(Shard, ShardsAreDisjointAndCoverEveryUnit) {
  std::set<std::pair<size_t, int64_t>> all;
  size_t total = 0;
  for (int64_t i = 0; i < 3; ++i) {
    auto units = shard_units(5, 4, i, 3);
    total += units.size();
    for (const auto& u : units) all.insert({u.point, u.run_id});
    EXPECT_EQ(shard_units(5, 4, i, 3).size(), units.size());  // deterministic
  }
  EXPECT_EQ(total, 20u);
  EXPECT_EQ(all.size(), 20u);
  EXPECT_EQ(shard_units(5, 4, 0, 1).size(), 20u);
}

TEST(Shard, ParsesIOverN) {
  EXPECT_EQ(parse_shard("1/4"), std::make_pair(int64_t{1}, int64_t{4}));
  for (const char* bad : {"4/4", "-1/2", "1", "a/b", "1/0", "1/2x"}) {
    EXPECT_THAT(error_message([&] { parse_shard(bad); }), HasSubstr("expected i/n")) << bad;
  }
}

/// A config file for the synthetic task on disk (sweeps read their config from a file).
fs::path write_synthetic_config(const fs::path& dir) {
  auto loaded = testing::synthetic_config({"train.epochs=2"});
  const auto path = dir / "synthetic.json";
  std::ofstream(path) << loaded.json.dump(2);
  return path;
}

/// A quiet sweep of the synthetic task (2 epochs) over `axes`, `runs` runs per point (0: the config's),
/// written to `dir`/sweep.
SweepOptions synthetic_sweep(const fs::path& dir, const std::vector<std::string>& axes, int64_t runs = 0) {
  SweepOptions o;
  o.config_path = write_synthetic_config(dir);
  for (const auto& axis : axes) o.axes.push_back(parse_grid_axis(axis));
  o.runs = runs;
  o.out_dir = dir / "sweep";
  o.verbose = false;
  return o;
}

TEST(Sweep, RunsEveryPointSkipsDoneOnesAndKeepsGoingAfterDivergence) {
  TempDir dir;
  auto o = synthetic_sweep(dir.path(), {"train.optimizer.lr=0.05,1e30"}, 2);
  auto first = run_sweep(o, testing::synthetic_components());
  EXPECT_EQ(first.finished, 2);
  EXPECT_EQ(first.diverged, 2);  // the huge learning rate diverges; the sweep went on
  EXPECT_EQ(first.failed, 0);
  EXPECT_EQ(read_run_status(dir / "sweep" / "lr=1e+30" / "run-1"), RunStatus::Diverged);
  EXPECT_EQ(read_run_status(dir / "sweep" / "lr=0.05" / "run-1"), RunStatus::Finished);
  auto index = nlohmann::json::parse(read_text(dir / "sweep" / "sweep.json"));
  EXPECT_EQ(index["points"].size(), 2u);
  EXPECT_EQ(index["runs"], 2);
  auto again = run_sweep(o, testing::synthetic_components());
  EXPECT_EQ(again.skipped, 4);
  EXPECT_EQ(again.finished + again.diverged, 0);
}

TEST(Sweep, ResumesAnInterruptedRunAndShardsSplitTheWork) {
  TempDir dir;
  auto o = synthetic_sweep(dir.path(), {"nonsmooth.beta=0,1"}, 1);
  o.shard_index = 1;
  o.shard_count = 2;
  auto shard1 = run_sweep(o, testing::synthetic_components());
  EXPECT_EQ(shard1.finished, 1);
  EXPECT_FALSE(read_run_status(dir / "sweep" / "beta=0" / "run-0").has_value());
  EXPECT_EQ(read_run_status(dir / "sweep" / "beta=1" / "run-0"), RunStatus::Finished);
  // Shard 0 is interrupted after its first epoch, then the sweep is re-run.
  o.shard_index = 0;
  o.overrides = {"train.stop_after_epoch=1"};
  auto interrupted = run_sweep(o, testing::synthetic_components());
  EXPECT_EQ(interrupted.stopped, 1);
  const auto run = dir / "sweep" / "beta=0" / "run-0";
  const auto first_rows = read_csv(run / "metrics.csv").rows;
  ASSERT_EQ(first_rows.size(), 1u);
  o.overrides = {};
  auto resumed = run_sweep(o, testing::synthetic_components());
  EXPECT_EQ(resumed.finished, 1);
  // Resumed, not restarted (training is deterministic, so a restart would give the same numbers): the run
  // says it continued from its checkpoint, and epoch 1's row keeps its bytes, `seconds` included.
  EXPECT_THAT(read_text(run / "train.log"),
              HasSubstr("resumed from " + (run / "checkpoint.pt").string() + " after epoch 1"));
  const auto rows = read_csv(run / "metrics.csv").rows;
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], first_rows[0]);
}

TEST(Sweep, AnInvalidPointStopsTheSweepBeforeAnythingTrains) {
  TempDir dir;
  auto o = synthetic_sweep(dir.path(), {"train.optimizer.lr=0.1,-1"});
  EXPECT_THAT(error_message([&] { run_sweep(o, testing::synthetic_components()); }),
              HasSubstr("train.optimizer.lr: expected a positive number, got -1"));
  EXPECT_FALSE(fs::exists(dir / "sweep"));
}

TEST(Compare, GroupsByBetaPrecisionAndVariedKeys) {
  TempDir dir;
  run_sweep(synthetic_sweep(dir.path(), {"nonsmooth.beta=0,1000", "train.optimizer.lr=0.05,1e30"}, 2),
            testing::synthetic_components());
  auto runs = collect_runs({dir / "sweep"});
  ASSERT_EQ(runs.size(), 8u);
  auto c = compare_runs(runs);
  EXPECT_EQ(c.columns, (std::vector<std::string>{"precision", "lr", "beta"}));
  ASSERT_EQ(c.groups.size(), 4u);
  // Sorted numerically: lr 0.05 before 1e30, β 0 before 1000.
  EXPECT_EQ(c.groups[0].key, (std::vector<std::string>{"fp32", "0.05", "0.0"}));
  EXPECT_EQ(c.groups[3].key[1], "1e+30");
  EXPECT_EQ(c.groups[0].runs, 2);
  EXPECT_EQ(c.groups[0].diverged, 0);
  EXPECT_EQ(c.groups[3].diverged, 2);
  // The statistics are those of the runs' last metrics rows.
  double a = runs[0].final_test_accuracy;
  for (const auto& r : runs) {
    if (r.dir.parent_path().filename() == "beta=0_lr=0.05") {
      auto t = read_csv(r.dir / "metrics.csv");
      EXPECT_DOUBLE_EQ(r.final_test_accuracy, std::stod(t.rows.back()[t.index("test_accuracy")]));
    }
  }
  (void)a;
  std::vector<double> finals;
  for (const auto& r : runs)
    if (r.dir.parent_path().filename() == "beta=0_lr=0.05") finals.push_back(r.final_test_accuracy);
  ASSERT_EQ(finals.size(), 2u);
  EXPECT_NEAR(c.groups[0].final_mean, (finals[0] + finals[1]) / 2, 1e-12);
  EXPECT_NEAR(c.groups[0].final_std, std::abs(finals[0] - finals[1]) / std::sqrt(2.0), 1e-12);
  auto table = format_comparison_table(c);
  EXPECT_THAT(table, HasSubstr("precision"));
  EXPECT_THAT(table, HasSubstr("±"));
  auto csv = format_comparison_csv(c);
  EXPECT_THAT(csv, HasSubstr("precision,lr,beta,runs,diverged,incomplete,final_mean"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
}

}  // namespace
}  // namespace tiebreak::train
