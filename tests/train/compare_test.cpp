#include "tiebreak/train/compare.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace tiebreak::train {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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
  EXPECT_THAT(csv, HasSubstr("fp32,0.0,1,0,0,0.8512,nan,0.8512,nan\n"));
}

}  // namespace
}  // namespace tiebreak::train
