// mean_std: the one mean ± sample standard deviation of compare and report.
#include "tiebreak/study/statistics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tiebreak::study {
namespace {

TEST(MeanStd, SampleDeviationWithNMinusOne) {
  const auto s = mean_std({0.98, 0.99, 0.97});
  EXPECT_DOUBLE_EQ(s.mean, 0.98);
  // sqrt((0.0001 + 0 + 0.0001) / 2) = 0.01; n (not n − 1) would give 0.00816.
  EXPECT_NEAR(s.std, 0.01, 1e-15);
}

TEST(MeanStd, OneValueHasNoSpreadAndNoValueNoMean) {
  const auto one = mean_std({0.5});
  EXPECT_EQ(one.mean, 0.5);
  EXPECT_TRUE(std::isnan(one.std));
  const auto none = mean_std({});
  EXPECT_EQ(none.mean, 0);
  EXPECT_TRUE(std::isnan(none.std));
}

TEST(MeanStd, EqualValuesHaveExactlyZeroSpread) {
  // 0.1 is not exact in binary: the mean of ten of them differs from 0.1 by an ulp, which would leave a
  // deviation of ~1e-17 without the snap to 0.
  const auto s = mean_std(std::vector<double>(10, 0.1));
  EXPECT_EQ(s.std, 0.0);
  EXPECT_GT(mean_std({0.1, 0.1 + 1e-9}).std, 0.0);
}

}  // namespace
}  // namespace tiebreak::study
