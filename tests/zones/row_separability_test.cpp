#include "zones/row_separability.h"

#include "tiebreak/nn/modules/pooling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace tiebreak::zones::detail {
namespace {

using ::testing::HasSubstr;

torch::Tensor images(int64_t rows) {
  torch::manual_seed(3);
  return torch::randn({rows, 2, 12, 12}, torch::kDouble);
}

TEST(RowSeparabilityObserver, ConvolutionsActivationsPoolingsAndViewsKeepTheRowsApart) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 3));
  conv->to(torch::kDouble);
  nn::MaxPool2d pool(nn::MaxPool2dOptions(2));
  // Tie counting runs operators of its own (a scalar sum, among others): they are statistics, not results.
  pool->counter()->set_counting(nn::TieCounting::Record);
  const auto x = images(3);
  torch::NoGradGuard no_grad;
  RowSeparabilityObserver observer(3);
  auto y = pool->forward(torch::relu(conv->forward(x)));
  y = (y * 2 + 1).flatten(1).reshape({3, -1});
  EXPECT_TRUE(observer.separable()) << observer.violation();
  EXPECT_EQ(observer.violation(), "");
}

TEST(RowSeparabilityObserver, MatrixProductsBatchNormDropoutAndReductionsDoNot) {
  const auto x = images(4);
  torch::nn::Linear linear(288, 5);
  linear->to(torch::kDouble);
  torch::nn::BatchNorm2d batch_norm(2);
  batch_norm->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  // The name is the first operator that gave the forward away (LibTorch's Linear transposes its weight
  // first, BatchNorm counts its batches first), where that is LibTorch's business; "" = not checked.
  const std::vector<std::pair<std::string, std::function<void()>>> cases = {
      {"", [&] { linear->forward(x.flatten(1)); }},
      {"", [&] { batch_norm->forward(x); }},
      {"aten::dropout", [&] { torch::dropout(x, 0.5, /*train=*/true); }},
      {"aten::sum", [&] { (void)x.sum(0); }},
  };
  for (const auto& [name, forward] : cases) {
    RowSeparabilityObserver observer(4);
    forward();
    EXPECT_FALSE(observer.separable()) << name;
    EXPECT_THAT(observer.violation(), HasSubstr(name));
    EXPECT_NE(observer.violation(), "");
  }
}

TEST(RowSeparabilityObserver, AViewThatMergesTheRowsIsCaught) {
  const auto x = images(4);
  RowSeparabilityObserver observer(4);
  (void)x.flatten(0);
  EXPECT_FALSE(observer.separable());
  EXPECT_EQ(observer.violation(), "aten::flatten returned 1152 rows, expected 4");
}

TEST(RowSeparabilityObserver, OnlyTopLevelOperatorsAreJudged) {
  // conv2d calls _convolution, empty, ... inside; those are its own business.
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 3, 3).padding(1));
  conv->to(torch::kDouble);
  const auto x = images(2);
  torch::NoGradGuard no_grad;
  {
    RowSeparabilityObserver observer(2);
    conv->forward(x);
    EXPECT_TRUE(observer.separable()) << observer.violation();
  }
  // One observer at a time, and none after it is gone.
  RowSeparabilityObserver again(2);
  EXPECT_THROW(RowSeparabilityObserver(2), c10::Error);
}

// What the list of operators rests on: LibTorch's float64 CPU convolution gives a row the same bits alone
// as in a batch (a loop of per-sample products), whatever the shape. If an upgrade changed that, the zone
// probe's one-row fp64 forward would no longer be the whole batch's.
TEST(RowSeparabilityObserver, Float64ConvolutionGivesARowTheSameBitsAloneAsInABatch) {
  torch::manual_seed(5);
  for (const auto& [in, out, side, kernel, padding] :
       std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>>{
           {1, 6, 28, 5, 0}, {6, 16, 12, 5, 0}, {3, 64, 32, 3, 1}, {64, 128, 16, 3, 1}}) {
    SCOPED_TRACE(std::to_string(in) + "->" + std::to_string(out));
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, kernel).padding(padding));
    conv->to(torch::kDouble);
    const auto x = torch::randn({16, in, side, side}, torch::kDouble);
    torch::NoGradGuard no_grad;
    const auto whole = conv->forward(x);
    for (int64_t row : {0, 5, 15})
      EXPECT_TRUE(torch::equal(conv->forward(x.slice(0, row, row + 1)), whole.slice(0, row, row + 1)));
    const auto rows = torch::tensor({3, 9, 10}, torch::kLong);
    EXPECT_TRUE(torch::equal(conv->forward(x.index_select(0, rows)), whole.index_select(0, rows)));
  }
}

}  // namespace
}  // namespace tiebreak::zones::detail
