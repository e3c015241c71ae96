#include "zones/row_separability.h"

#include "tiebreak/nn/modules/pooling.h"
#include "tiebreak/ops/max_pool2d.h"
#include "tiebreak/ops/norm_pool2d.h"
#include "tiebreak/ops/relu.h"

#include <ATen/Parallel.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/record_function.h>

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

/// Runs `body` at 1 and at 2 intra-op threads (what the trainer uses on this machine), then restores the
/// count.
void at_one_and_two_threads(const std::function<void()>& body) {
  const int threads = at::get_num_threads();
  for (int n : {1, 2}) {
    SCOPED_TRACE(std::to_string(n) + " thread(s)");
    at::set_num_threads(n);
    body();
  }
  at::set_num_threads(threads);
}

/// Whether rows of `f(x)` computed alone or a few at a time have the bits they have in `f` of the whole
/// batch.
void expect_rows_keep_their_bits(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  const auto whole = f(x);
  const int64_t n = x.size(0);
  for (int64_t row : {int64_t{0}, n / 2, n - 1})
    EXPECT_TRUE(torch::equal(f(x.slice(0, row, row + 1)), whole.slice(0, row, row + 1))) << "row " << row;
  const auto rows = torch::tensor({int64_t{1}, n / 2 + 1, n - 2}, torch::kLong);
  EXPECT_TRUE(torch::equal(f(x.index_select(0, rows)), whole.index_select(0, rows)));
}

// What the list of operators rests on: each of them gives a row the same bits alone as in a batch, on odd
// sizes (vectorized loops with scalar tails) and at 1 and 2 threads. If a LibTorch upgrade changed that, the
// zone probe's one-row fp64 forward would no longer be the whole batch's.
TEST(RowSeparabilityObserver, TheListedOperatorsGiveARowTheSameBitsAloneAsInABatch) {
  torch::manual_seed(5);
  const auto x = torch::randn({13, 3, 7, 9}, torch::kDouble);
  const auto w = torch::randn({3, 1, 1}, torch::kDouble);
  const std::vector<std::pair<std::string, std::function<at::Tensor(const at::Tensor&)>>> cases = {
      {"relu", [](const at::Tensor& t) { return torch::relu(t); }},
      {"threshold", [](const at::Tensor& t) { return torch::threshold(t, 0.1, -1.0); }},
      {"leaky_relu", [](const at::Tensor& t) { return torch::leaky_relu(t, 0.01); }},
      {"hardtanh", [](const at::Tensor& t) { return torch::hardtanh(t, -0.5, 0.5); }},
      {"clamp_min", [](const at::Tensor& t) { return torch::clamp_min(t, 0.25); }},
      {"mul", [&](const at::Tensor& t) { return t * w; }},
      {"div", [&](const at::Tensor& t) { return t / w; }},
      {"add", [&](const at::Tensor& t) { return t + w; }},
      {"tiebreak::relu", [](const at::Tensor& t) { return ops::relu(t, 0.5); }},
      {"max_pool2d",
       [](const at::Tensor& t) {
         return torch::max_pool2d(t, {2, 2});
       }},
      {"avg_pool2d",
       [](const at::Tensor& t) {
         return torch::avg_pool2d(t, {3, 3}, {2, 2}, {1, 1});
       }},
      {"adaptive_avg_pool2d",
       [](const at::Tensor& t) {
         return torch::adaptive_avg_pool2d(t, {2, 3});
       }},
      {"adaptive_max_pool2d",
       [](const at::Tensor& t) {
         return std::get<0>(torch::adaptive_max_pool2d(t, {2, 3}));
       }},
      {"tiebreak::max_pool2d",
       [](const at::Tensor& t) {
         return ops::max_pool2d(t, {2, 2}, {2, 2}, 0, 1, false, 1000.0, ops::PoolFormulation::Mixture);
       }},
      {"tiebreak::norm_pool2d",
       [](const at::Tensor& t) {
         return ops::norm_pool2d(t, {2, 2});
       }},
  };
  for (const auto& [name, f] : cases) {
    SCOPED_TRACE(name);
    at_one_and_two_threads([&, &f = f] { expect_rows_keep_their_bits(f, x); });
  }
}

TEST(RowSeparabilityObserver, Float64ConvolutionGivesARowTheSameBitsAloneAsInABatch) {
  torch::manual_seed(5);
  // LeNet5's two, VGG's stem, a stride-2 and a 1x1 (ResNet's downsampling), VGG's late 512-channel layers.
  struct Shape {
    int64_t in, out, side, kernel, stride, padding;
  };
  for (const auto& s : std::vector<Shape>{{1, 6, 28, 5, 1, 0},
                                          {6, 16, 12, 5, 1, 0},
                                          {3, 64, 32, 3, 1, 1},
                                          {64, 128, 16, 3, 2, 1},
                                          {64, 128, 16, 1, 2, 0},
                                          {512, 512, 4, 3, 1, 1},
                                          {512, 512, 2, 3, 1, 1}}) {
    SCOPED_TRACE(std::to_string(s.in) + "->" + std::to_string(s.out) + " at " + std::to_string(s.side));
    torch::nn::Conv2d conv(
        torch::nn::Conv2dOptions(s.in, s.out, s.kernel).stride(s.stride).padding(s.padding));
    conv->to(torch::kDouble);
    const auto x = torch::randn({9, s.in, s.side, s.side}, torch::kDouble);
    at_one_and_two_threads(
        [&] { expect_rows_keep_their_bits([&](const at::Tensor& t) { return conv->forward(t); }, x); });
  }
}

TEST(RowSeparabilityObserver, TranscendentalMapsAndScaledAdditionsAreNotListed) {
  const auto x = images(2);
  const auto y = images(2);
  for (const auto& [name, f] : std::vector<std::pair<std::string, std::function<void()>>>{
           {"aten::sigmoid", [&] { (void)torch::sigmoid(x); }},
           {"aten::tanh", [&] { (void)torch::tanh(x); }},
           {"aten::add", [&] { (void)x.add(y, 2.0); }},
           {"aten::sub", [&] { (void)(x - y); }}}) {
    RowSeparabilityObserver observer(2);
    f();
    EXPECT_EQ(observer.violation(), name);
  }
  RowSeparabilityObserver observer(2);
  (void)x.add(y);
  (void)(x + y);
  EXPECT_TRUE(observer.separable()) << observer.violation();
  EXPECT_EQ(observer.observed(), 2);
}

TEST(RowSeparabilityObserver, WithRecordFunctionDisabledItVouchesForNothing) {
  at::RecordFunctionGuard off(false);
  RowSeparabilityObserver observer(2);
  (void)torch::relu(images(2));
  EXPECT_FALSE(observer.separable());
  EXPECT_EQ(observer.observed(), 0);
}

}  // namespace
}  // namespace tiebreak::zones::detail
