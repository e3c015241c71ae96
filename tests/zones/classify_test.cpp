#include "tiebreak/zones/classify.h"
#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/pooling.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace tiebreak::zones {
namespace {

TEST(Discrepancy, SumsPerTensorNormsInDouble) {
  std::vector<at::Tensor> a{torch::tensor({1.0, 2.0, -1.0}), torch::tensor({{3.0}})};
  std::vector<at::Tensor> b{torch::tensor({1.0, 0.0, 0.5}), torch::tensor({{4.0}})};
  auto d = discrepancy(a, b);
  EXPECT_DOUBLE_EQ(d.linf, 2.0 + 1.0);      // max(0, 2, 1.5) + 1
  EXPECT_DOUBLE_EQ(d.l1, 2.0 + 1.5 + 1.0);  // 3.5 + 1
}

TEST(Discrepancy, ComparesHalvesAndDoublesExactly) {
  // Adjacent halves at 2048 are 2 apart; the result is exact.
  auto a = torch::tensor({2048.0}).to(torch::kHalf);
  auto b = torch::tensor({2050.0}).to(torch::kHalf);
  EXPECT_DOUBLE_EQ(discrepancy({a}, {b}).linf, 2.0);
  // A float64 difference far below float32's resolution at 1 survives.
  auto x = torch::tensor({1.0}, torch::kDouble);
  auto y = torch::tensor({1.0 + std::ldexp(1.0, -40)}, torch::kDouble);
  EXPECT_EQ(discrepancy({x}, {y}).linf, std::ldexp(1.0, -40));
}

TEST(Discrepancy, UndefinedGradientCountsAsZeros) {
  std::vector<at::Tensor> a{at::Tensor()};
  std::vector<at::Tensor> b{torch::tensor({-2.0, 1.0})};
  auto d = discrepancy(a, b);
  EXPECT_DOUBLE_EQ(d.linf, 2.0);
  EXPECT_DOUBLE_EQ(d.l1, 3.0);
  EXPECT_DOUBLE_EQ(discrepancy({at::Tensor()}, {at::Tensor()}).linf, 0.0);
}

TEST(Discrepancy, RejectsMismatchedLists) {
  EXPECT_THROW(discrepancy({torch::zeros({2})}, {}), c10::Error);
  EXPECT_THROW(discrepancy({torch::zeros({2})}, {torch::zeros({3})}), c10::Error);
}

/// The discrepancy as first written (both sides converted to float64 in whole, subtracted, reduced): the
/// reference the cheaper paths must match bit for bit.
Discrepancy reference_discrepancy(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  at::Tensor linf, l1;
  for (size_t k = 0; k < a.size(); ++k) {
    if (!a[k].defined() && !b[k].defined()) continue;
    const at::Tensor& ref = a[k].defined() ? a[k] : b[k];
    auto x = a[k].defined() ? a[k].to(at::kDouble) : at::zeros(ref.sizes(), ref.options().dtype(at::kDouble));
    auto y = b[k].defined() ? b[k].to(at::kDouble) : at::zeros(ref.sizes(), ref.options().dtype(at::kDouble));
    auto diff = (x - y).abs_();
    auto m = diff.numel() == 0 ? at::zeros({}, diff.options()) : diff.max();
    linf = linf.defined() ? linf + m : m;
    l1 = l1.defined() ? l1 + diff.sum() : diff.sum();
  }
  if (!linf.defined()) return {};
  return {linf.item<double>(), l1.item<double>()};
}

void expect_same_bits(double got, double want, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": " << got;
    return;
  }
  EXPECT_EQ(std::memcmp(&got, &want, sizeof got), 0) << what << ": " << got << " vs " << want;
}

void expect_matches_reference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b,
                              const std::string& what) {
  const auto want = reference_discrepancy(a, b);
  const auto both = discrepancy(a, b);
  expect_same_bits(both.linf, want.linf, what + " linf");
  expect_same_bits(both.l1, want.l1, what + " l1");
  expect_same_bits(discrepancy(a, b, DiscrepancyNorm::Linf), want.linf, what + " Linf alone");
  expect_same_bits(discrepancy(a, b, DiscrepancyNorm::L1), want.l1, what + " L1 alone");
}

TEST(Discrepancy, OneNormMatchesTheFloat64ComputationBitForBit) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  for (auto dtype : {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble}) {
    SCOPED_TRACE(c10::toString(dtype));
    // Gradient-like lists: one tensor equal on both sides, others differing in a few or all elements,
    // at magnitudes from 1e-6 to 1e3.
    std::vector<at::Tensor> a, b;
    for (int k = 0; k < 6; ++k) {
      auto x = (torch::randn({37, 11}, gen) * std::pow(10.0, k - 3)).to(dtype);
      auto y = x.clone();
      if (k == 1) y.view(-1).narrow(0, 5, 3).add_(std::pow(10.0, -k));
      if (k >= 2) y = (x.to(at::kDouble) + torch::randn({37, 11}, gen).to(at::kDouble) * 1e-3).to(dtype);
      a.push_back(x);
      b.push_back(y);
    }
    expect_matches_reference(a, b, "random");
    expect_matches_reference(a, a, "equal");
  }
}

TEST(Discrepancy, OneNormRecomputesTheRoundedMaximaInFloat64) {
  // Both differences round to 1 + 2^-23 in float32; the exact ones differ by 2^-30, which float64 keeps.
  const float one_ulp = 1.0f + std::ldexp(1.0f, -23);
  auto a = torch::tensor({one_ulp, one_ulp, 0.25f});
  auto b = torch::tensor({0.0f, -std::ldexp(1.0f, -30), 0.0f});
  const double want = 1.0 + std::ldexp(1.0, -23) + std::ldexp(1.0, -30);
  EXPECT_EQ(discrepancy({a}, {b}, DiscrepancyNorm::Linf), want);
  expect_matches_reference({a}, {b}, "rounded maxima");
  // The other order of the candidates.
  expect_matches_reference({a.flip(0)}, {b.flip(0)}, "flipped");
}

TEST(Discrepancy, OneNormHandlesOverflowNaNSignedZerosAndMissingGradients) {
  const float big = 3e38f, inf = std::numeric_limits<float>::infinity(),
              nan = std::numeric_limits<float>::quiet_NaN();
  // 3e38 − (−3e38) overflows float32, not float64: D stays finite, as in float64.
  expect_matches_reference({torch::tensor({big, 1.0f})}, {torch::tensor({-big, 0.0f})}, "overflow");
  EXPECT_EQ(discrepancy({torch::tensor({big})}, {torch::tensor({-big})}, DiscrepancyNorm::Linf),
            2.0 * static_cast<double>(big));
  expect_matches_reference({torch::tensor({inf, 1.0f})}, {torch::tensor({1.0f, 0.0f})}, "inf");
  expect_matches_reference({torch::tensor({inf})}, {torch::tensor({inf})}, "inf - inf");
  expect_matches_reference({torch::tensor({nan, 1.0f})}, {torch::tensor({0.0f, 5.0f})}, "nan");
  expect_matches_reference({torch::tensor({nan})}, {torch::tensor({nan})}, "nan both");
  expect_matches_reference({torch::tensor({-0.0f, 0.0f})}, {torch::tensor({0.0f, -0.0f})}, "signed zeros");
  expect_matches_reference({at::Tensor(), torch::tensor({1.5f, -2.5f})},
                           {torch::tensor({1.0f, 2.0f}), at::Tensor()}, "undefined");
  expect_matches_reference({torch::zeros({0, 3})}, {torch::zeros({0, 3})}, "empty");
  expect_matches_reference({torch::tensor({1.0f, 2.0f})}, {torch::tensor({1.5, 2.0}, torch::kDouble)},
                           "float vs double");
  EXPECT_EQ(discrepancy({at::Tensor()}, {at::Tensor()}, DiscrepancyNorm::Linf), 0.0);
  EXPECT_THROW(discrepancy({torch::zeros({2})}, {}, DiscrepancyNorm::Linf), c10::Error);
  EXPECT_THROW(discrepancy({torch::zeros({2})}, {torch::zeros({3})}, DiscrepancyNorm::Linf), c10::Error);
}

TEST(CompareTieMasks, SplitsSurvivingCreatedAndBroken) {
  auto low = torch::tensor({true, true, false, false});
  auto high = torch::tensor({true, false, true, false});
  auto c = compare_tie_masks({low, low}, {high, high});
  EXPECT_EQ(c.low, 4);
  EXPECT_EQ(c.high, 4);
  EXPECT_EQ(c.surviving, 2);
  EXPECT_EQ(c.created_by_rounding, 2);
  EXPECT_EQ(c.broken_by_rounding, 2);
  EXPECT_THROW(compare_tie_masks({low}, {}), c10::Error);
  EXPECT_THROW(compare_tie_masks({low}, {torch::tensor({true})}), c10::Error);
}

TEST(Classify, ZoneFollowsDiscrepancyAndSurvivingTies) {
  TieComparison surviving;
  surviving.low = surviving.high = surviving.surviving = 1;
  TieComparison vanished;
  vanished.low = vanished.created_by_rounding = 1;
  TieComparison none;
  EXPECT_EQ(classify(0.0, &surviving), Zone::None);
  EXPECT_EQ(classify(1e-9, &surviving), Zone::Bifurcation);
  EXPECT_EQ(classify(1e-9, &vanished), Zone::Compensation);
  EXPECT_EQ(classify(1e-9, &none), Zone::Compensation);
  EXPECT_EQ(classify(1e-9, nullptr), Zone::Unresolved);
  EXPECT_EQ(classify(0.0, nullptr), Zone::None);
  EXPECT_THROW(classify(-1.0, nullptr), c10::Error);
}

TEST(TieCounterRecording, PoolRecordsTiedWindowsAndReluExactZeros) {
  nn::MaxPool2d pool(nn::MaxPool2dOptions(2));
  pool->counter()->set_counting(nn::TieCounting::Record);
  // Window 0 has two equal maxima, window 1 a single one.
  auto x = torch::tensor({1.0f, 1.0f, 1.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f}).view({1, 1, 2, 4});
  pool(x);
  pool(x);
  auto masks = pool->counter()->recorded();
  ASSERT_EQ(masks.size(), 2u);
  EXPECT_TRUE(torch::equal(masks[0], torch::tensor({true, false}).view({1, 1, 1, 2})));

  nn::ReLU relu{nn::ReLUOptions()};
  relu->counter()->set_counting(nn::TieCounting::Record);
  relu(torch::tensor({-1.0, 0.0, -0.0, 2.0}));
  ASSERT_EQ(relu->counter()->recorded().size(), 1u);
  EXPECT_TRUE(torch::equal(relu->counter()->recorded()[0], torch::tensor({false, true, true, false})));

  relu->counter()->reset();
  EXPECT_TRUE(relu->counter()->recorded().empty());
  relu->counter()->set_counting(nn::TieCounting::Count);
  relu(torch::tensor({0.0}));
  EXPECT_TRUE(relu->counter()->recorded().empty());
  EXPECT_EQ(relu->counter()->stats().ties, 1);
}

}  // namespace
}  // namespace tiebreak::zones
