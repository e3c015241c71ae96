#include "tiebreak/study/compare.h"

#include "support/test_support.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/zones/statistics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace tiebreak::train {
namespace {

using namespace tiebreak::study;

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;
using tiebreak::testing::TempDir;

RunRecord finished_run(double beta, const std::string& precision, double final_accuracy) {
  RunRecord r;
  r.dir = "runs/x";
  r.config = {{"nonsmooth", {{"beta", beta}}}, {"train", {{"precision", precision}}}};
  r.status = "finished";
  r.epochs = 1;
  r.final_test_accuracy = final_accuracy;
  r.best_test_accuracy = final_accuracy;
  return r;
}

TEST(Compare, ASingleRunHasNoSpreadInsteadOfAZeroOne) {
  const auto c = compare_runs(
      {finished_run(0, "fp32", 0.8512), finished_run(1, "fp32", 0.80), finished_run(1, "fp32", 0.90)});
  ASSERT_EQ(c.groups.size(), 2u);
  EXPECT_EQ(c.groups[0].runs, 1);
  EXPECT_DOUBLE_EQ(c.groups[0].final_mean, 0.8512);
  EXPECT_TRUE(std::isnan(c.groups[0].final_std));
  EXPECT_TRUE(std::isnan(c.groups[0].best_std));
  // Two runs: the sample standard deviation, |a - b| / sqrt(2).
  EXPECT_NEAR(c.groups[1].final_std, 0.10 / std::sqrt(2.0), 1e-12);

  const auto table = format_comparison_table(c);
  EXPECT_THAT(table, HasSubstr("85.12 ±    -"));
  EXPECT_THAT(table, Not(HasSubstr("± 0.00")));
  EXPECT_THAT(table, HasSubstr("85.00 ± 7.07"));
  const auto csv = format_comparison_csv(c);
  EXPECT_THAT(csv, HasSubstr("fp32,0.0,1,0,0,0.8512,nan,0.8512,nan,0\n"));
}

/// A finished run directory of `epochs` rows; with `probe`, each row holds (probes, non-finite, above).
void write_run(const fs::path& dir, double beta, const std::vector<std::array<int64_t, 3>>& probe,
               bool probe_on) {
  fs::create_directories(dir);
  std::vector<EpochMetrics> rows;
  for (size_t e = 0; e < probe.size(); ++e) {
    EpochMetrics r;
    r.epoch = static_cast<int64_t>(e);
    r.beta = beta;
    r.precision = "fp32";
    r.test_accuracy = 0.5;
    if (probe_on) {
      ZoneProbeMetrics z;
      z.probes = probe[e][0];
      z.non_finite = probe[e][1];
      z.above_threshold = probe[e][2];
      r.zone_probe = z;
    }
    rows.push_back(r);
  }
  nlohmann::json config = {
      {"nonsmooth", {{"beta", beta}}},
      {"train", {{"precision", "fp32"}, {"zone_probe", {{"every", probe_on ? 10 : 0}}}}}};
  write_text_atomically(dir / "config.json", config.dump());
  write_text_atomically(dir / "run.json", R"({"status": "finished"})");
  write_text_atomically(dir / "metrics.csv", format_metrics_csv(rows));
}

TEST(Compare, PoolsTheZoneVolumeOverEpochsAndRunsOfAGroup) {
  TempDir dir;
  write_run(dir / "b0/run-0", 0, {{10, 0, 3}, {10, 2, 1}}, true);
  write_run(dir / "b0/run-1", 0, {{10, 0, 0}}, true);
  write_run(dir / "b1/run-0", 1, {{5, 0, 5}}, true);
  auto c = compare_runs(collect_runs({dir.path()}));
  // The probe's settings do not split groups.
  EXPECT_EQ(c.columns, (std::vector<std::string>{"precision", "beta"}));
  ASSERT_TRUE(c.zone_probe);
  ASSERT_EQ(c.groups.size(), 2u);
  const auto& g0 = c.groups[0];
  EXPECT_EQ(g0.zone_probes, 28);  // finite probes: 10 + 8 + 10
  EXPECT_EQ(g0.zone_above_threshold, 4);
  const auto ci = zones::wilson_interval(4, 28);
  EXPECT_DOUBLE_EQ(g0.zone_volume_low, ci.low);
  EXPECT_DOUBLE_EQ(g0.zone_volume_high, ci.high);
  EXPECT_EQ(c.groups[1].zone_above_threshold, 5);
  EXPECT_THAT(format_comparison_table(c), HasSubstr("zone volume % (95% CI)"));
  EXPECT_THAT(format_comparison_table(c), HasSubstr("of 28"));
  const auto csv = format_comparison_csv(c);
  EXPECT_THAT(csv,
              HasSubstr("best_std,interrupted,zone_probes,zone_above_threshold,zone_volume,zone_volume_low"));
  EXPECT_THAT(csv, HasSubstr(",28,4,"));
}

TEST(Compare, RunsWithoutTheProbeShowNoZoneColumns) {
  TempDir dir;
  write_run(dir / "run-0", 0, {{0, 0, 0}}, false);
  auto c = compare_runs(collect_runs({dir.path()}));
  EXPECT_FALSE(c.zone_probe);
  EXPECT_THAT(format_comparison_table(c), ::testing::Not(HasSubstr("zone")));
  EXPECT_THAT(format_comparison_csv(c), ::testing::Not(HasSubstr("zone")));
}

}  // namespace
}  // namespace tiebreak::train
