#include "tiebreak/zones/classify.h"
#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/pooling.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

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
