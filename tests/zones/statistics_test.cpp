#include "tiebreak/zones/statistics.h"

#include <gtest/gtest.h>

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

namespace tiebreak::zones {
namespace {

TEST(WilsonInterval, MatchesPublishedValues) {
  // 5/10 at 95%: [0.2366, 0.7634] (Wilson 1927; Newcombe 1998, Table I).
  auto ci = wilson_interval(5, 10);
  EXPECT_NEAR(ci.low, 0.2366, 5e-5);
  EXPECT_NEAR(ci.high, 0.7634, 5e-5);
  // 0/10: the upper end is z²/(n+z²), the lower is exactly 0.
  ci = wilson_interval(0, 10);
  EXPECT_EQ(ci.low, 0.0);
  EXPECT_NEAR(ci.high, 0.2775, 5e-5);
}

TEST(WilsonInterval, AllSuccessesEndExactlyAtOne) {
  auto ci = wilson_interval(391, 391);
  EXPECT_EQ(ci.high, 1.0);
  EXPECT_GT(ci.low, 0.99);
  EXPECT_LT(ci.low, 1.0);
}

TEST(WilsonInterval, NarrowsWithMoreTrialsAndContainsTheEstimate) {
  auto small = wilson_interval(30, 60);
  auto large = wilson_interval(3000, 6000);
  EXPECT_LT(large.high - large.low, small.high - small.low);
  EXPECT_LT(large.low, 0.5);
  EXPECT_GT(large.high, 0.5);
}

TEST(WilsonInterval, NoTrialsIsTheWholeRange) {
  auto ci = wilson_interval(0, 0);
  EXPECT_EQ(ci.low, 0.0);
  EXPECT_EQ(ci.high, 1.0);
}

TEST(WilsonInterval, RejectsImpossibleCounts) {
  EXPECT_THROW(wilson_interval(3, 2), c10::Error);
  EXPECT_THROW(wilson_interval(-1, 2), c10::Error);
}

TEST(Log10Histogram, BinsArePowerOfTenIntervalsClosedBelow) {
  EXPECT_EQ(Log10Histogram::bin_exponent(1e-3), -2);  // [1e-3, 1e-2)
  EXPECT_EQ(Log10Histogram::bin_exponent(9.999e-4), -3);
  EXPECT_EQ(Log10Histogram::bin_exponent(1.0), 1);  // [1, 10)
  EXPECT_EQ(Log10Histogram::bin_exponent(0.5), 0);  // [0.1, 1)
  EXPECT_EQ(Log10Histogram::bin_exponent(std::nextafter(1.0, 0.0)), 0);
  EXPECT_EQ(Log10Histogram::bin_exponent(1e-15), -14);
  EXPECT_EQ(Log10Histogram::bin_exponent(123.0), 3);
  EXPECT_EQ(Log10Histogram::bin_exponent(std::numeric_limits<double>::denorm_min()), -323);
}

TEST(Log10Histogram, CountsZerosApart) {
  Log10Histogram h;
  h.add(0.0);
  h.add(0.0);
  h.add(3e-5);
  h.add(5e-5);
  h.add(2.0);
  EXPECT_EQ(h.zeros(), 2);
  EXPECT_EQ(h.total(), 5);
  ASSERT_EQ(h.bins().size(), 2u);
  EXPECT_EQ(h.bins().at(-4), 2);
  EXPECT_EQ(h.bins().at(1), 1);
  auto j = h.to_json();
  EXPECT_EQ(j["zeros"], 2);
  ASSERT_EQ(j["bins"].size(), 2u);
  EXPECT_EQ(j["bins"][0]["exponent"], -4);
  EXPECT_DOUBLE_EQ(j["bins"][0]["low"].get<double>(), 1e-5);
  EXPECT_DOUBLE_EQ(j["bins"][0]["high"].get<double>(), 1e-4);
  EXPECT_EQ(j["bins"][0]["count"], 2);
}

TEST(Log10Histogram, RejectsNegativeAndNonFinite) {
  Log10Histogram h;
  EXPECT_THROW(h.add(-1e-9), c10::Error);
  EXPECT_THROW(h.add(std::numeric_limits<double>::quiet_NaN()), c10::Error);
  EXPECT_THROW(h.add(std::numeric_limits<double>::infinity()), c10::Error);
  EXPECT_EQ(h.total(), 0);
}

TEST(StudyHistogram, IsTheNotebooksNumpyHistogram) {
  // The expected percentages are what the study's plot_histogram (threshold_maxpool.ipynb) computes for these
  // samples with numpy 2.4: [(0, 23.08), (-8, 20.0), (-7, 10.0), (-6, 0), (-5, 0), (-4, 10.0), (-3, 0), (-2,
  // 0),
  // (-1, 20.0)] at 32 bits (exponents arange(-9, 0)).
  StudyHistogram h(-9, 0);
  for (double v : {0.0, 0.0, 0.0, 5e-10, 1e-9, 3e-9, 1e-8, 2.5e-5, 9.99e-2, 0.1, 0.5, 1.0, 2.0}) h.add(v);
  EXPECT_EQ(h.samples(), 13);
  EXPECT_EQ(h.zeros(), 3);
  EXPECT_EQ(h.in_range(), 10);    // up to and including 1e-1, numpy's closed last bin
  EXPECT_EQ(h.below_range(), 1);  // 5e-10: nonzero but under 1e-9, the bin the study drops
  EXPECT_EQ(h.above_range(), 3);
  EXPECT_NEAR(h.zero_percent(), 100.0 * 3 / 13, 1e-12);
  const auto bars = h.bars();
  ASSERT_EQ(bars.size(), 8u);
  const std::vector<std::pair<int, double>> expected{{-8, 20.0}, {-7, 10.0}, {-6, 0.0}, {-5, 0.0},
                                                     {-4, 10.0}, {-3, 0.0},  {-2, 0.0}, {-1, 20.0}};
  for (size_t i = 0; i < bars.size(); ++i) {
    EXPECT_EQ(bars[i].exponent, expected[i].first);
    EXPECT_DOUBLE_EQ(bars[i].percent, expected[i].second) << bars[i].exponent;
    EXPECT_EQ(bars[i].low, std::pow(10.0, bars[i].exponent - 1));
  }
  const auto j = h.to_json();
  EXPECT_EQ(j["exponents"], nlohmann::json({-9, 0}));
  EXPECT_EQ(j["bars"].size(), 8u);
  EXPECT_EQ(j["bars"][7]["count"], 2);
}

TEST(StudyHistogram, SixteenBitRangeEndsAtOneInclusive) {
  // numpy on [0, 1e-3, 1, 0.999, 3] with arange(-8, 1): zeros 20 %, bar -2 25 %, bar 0 ([0.1, 1]) 50 %.
  StudyHistogram h(-8, 1);
  for (double v : {0.0, 1e-3, 1.0, 0.999, 3.0}) h.add(v);
  const auto bars = h.bars();
  ASSERT_EQ(bars.size(), 8u);
  EXPECT_EQ(bars.front().exponent, -7);
  EXPECT_EQ(bars.back().exponent, 0);
  EXPECT_DOUBLE_EQ(bars.back().percent, 50.0);
  EXPECT_DOUBLE_EQ(bars[5].percent, 25.0);  // exponent -2
  EXPECT_DOUBLE_EQ(h.zero_percent(), 20.0);
  EXPECT_EQ(h.above_range(), 1);
}

TEST(StudyHistogram, RejectsBadInput) {
  EXPECT_THROW(StudyHistogram(0, 0), c10::Error);
  StudyHistogram h(-9, 0);
  EXPECT_THROW(h.add(-1.0), c10::Error);
  EXPECT_THROW(h.add(std::nan("")), c10::Error);
  EXPECT_EQ(h.zero_percent(), 0.0);
  for (const auto& bar : h.bars()) EXPECT_EQ(bar.percent, 0.0);
}

}  // namespace
}  // namespace tiebreak::zones
