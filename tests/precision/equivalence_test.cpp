#include "tiebreak/precision/equivalence.h"

#include "support/test_support.h"
#include "tiebreak/precision/fp32_accumulate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace tiebreak::precision {
namespace {

at::Tensor half(std::vector<float> values) { return torch::tensor(values).to(at::kHalf); }

TEST(UlpDistance, CountsRepresentableValuesBetweenTwoHalfs) {
  const float one_up = 1.0f + std::ldexp(1.0f, -10);  // the Half after 1
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto d = ulp_distance(half({1.0f, 1.0f, 0.0f, 65504.0f, nan, nan, 1.0f, std::ldexp(1.0f, -24)}),
                              half({one_up, 1.0f, -0.0f, inf, nan, 1.0f, -1.0f, -std::ldexp(1.0f, -24)}));
  EXPECT_EQ(d.scalar_type(), at::kLong);
  const std::vector<int64_t> expected{1, 0, 0, 1, 0, kNanMismatch, 2 * 0x3C00, 2};
  EXPECT_EQ(std::vector<int64_t>(d.data_ptr<int64_t>(), d.data_ptr<int64_t>() + d.numel()), expected);
}

TEST(UlpDistance, WorksForBFloat16AndRejectsOtherDtypes) {
  const auto a = torch::tensor({1.0f, -2.0f}).to(at::kBFloat16);
  const auto b = torch::tensor({1.0f + std::ldexp(1.0f, -7), -2.0f - std::ldexp(1.0f, -5)}).to(at::kBFloat16);
  const auto d = ulp_distance(a, b);
  EXPECT_EQ(d[0].item<int64_t>(), 1);
  EXPECT_EQ(d[1].item<int64_t>(), 2);
  EXPECT_THAT(testing::error_message([] { ulp_distance(torch::ones({2}), torch::ones({2})); }),
              ::testing::HasSubstr("expected a Half or BFloat16 tensor, got Float"));
  EXPECT_THAT(testing::error_message([&] {
                ulp_distance(a, half({1.0f, 2.0f}));
              }),
              ::testing::HasSubstr("expected tensors of one dtype"));
}

TEST(UlpError, IsAtMostHalfAnUlpForCorrectlyRoundedValues) {
  torch::manual_seed(1);
  // Float values, so that the conversion to Half rounds once (LibTorch converts
  // double to Half through float).
  const auto reference = (torch::randn({10000}) * 100).to(torch::kDouble);
  const auto rounded = reference.to(at::kHalf);
  const auto error = ulp_error(rounded, reference);
  EXPECT_LE(error.max().item<double>(), 0.5);
  EXPECT_GT(error.max().item<double>(), 0.4);
  // The next Half away from zero (bit pattern + 1): 0.5 to 1.5 ulps away, up to
  // 2.5 where the rounding crossed into the next binade.
  const auto neighbour = (rounded.view(at::kShort) + 1).view(at::kHalf);
  const auto far = ulp_error(neighbour, reference);
  EXPECT_GE(far.min().item<double>(), 0.5 - 1e-9);
  EXPECT_LE(far.max().item<double>(), 2.5 + 1e-9);
  EXPECT_LE(far.median().item<double>(), 1.5);
}

TEST(UlpError, NonFiniteValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const double dinf = std::numeric_limits<double>::infinity();
  const auto e = ulp_error(half({inf, 1.0f, inf, 0.0f}),
                           torch::tensor({1.0, dinf, dinf, std::ldexp(1.0, -25)}, torch::kDouble));
  EXPECT_TRUE(std::isinf(e[0].item<double>()));
  EXPECT_TRUE(std::isinf(e[1].item<double>()));
  EXPECT_EQ(e[2].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(e[3].item<double>(), 0.5);  // half the smallest subnormal
}

struct TinyNet : torch::nn::Module {
  TinyNet() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3)));
    fc = register_module("fc", torch::nn::Linear(4 * 4 * 4, 3));
  }
  at::Tensor forward(const at::Tensor& x) { return fc(torch::relu(conv(x)).flatten(1)); }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr};
};

TEST(Fp32AccumulateProbe, KeepsTheNativeResultsAndComparesEveryProduct) {
  torch::manual_seed(2);
  auto net = std::make_shared<TinyNet>();
  net->to(at::kHalf);
  const auto x = torch::randn({5, 2, 6, 6}).to(at::kHalf);
  const auto y = torch::tensor({0, 1, 2, 0, 1});
  auto loss_of = [&] { return torch::nn::functional::cross_entropy(net->forward(x), y); };

  const auto native_loss = loss_of();
  native_loss.backward();
  const auto native_grad = net->conv->weight.grad().clone();
  net->zero_grad();

  Fp32AccumulateProbe probe(*net);
  at::Tensor loss;
  {
    auto scope = probe.engage();
    EXPECT_TRUE(fp32_accumulate_enabled());
    loss = loss_of();
  }
  EXPECT_FALSE(fp32_accumulate_enabled());
  loss.backward();
  // The network ran on LibTorch's own 16-bit kernels.
  EXPECT_TRUE(torch::equal(loss, native_loss));
  EXPECT_TRUE(torch::equal(net->conv->weight.grad(), native_grad));

  std::vector<std::string> seen;
  for (const auto& c : probe.comparisons()) {
    seen.push_back(c.layer + " " + c.op + " " + c.product);
    EXPECT_EQ(c.dtype, "Half");
    EXPECT_EQ(c.calls, 1);
    EXPECT_GT(c.elements, 0);
    EXPECT_LE(c.differing, c.elements);
    EXPECT_GE(c.max_ulp_distance, c.differing > 0 ? 1 : 0);
    EXPECT_LT(c.max_ulp_distance, kNanMismatch);
    EXPECT_TRUE(std::isfinite(c.native_max_error) && std::isfinite(c.fp32_accumulate_max_error));
  }
  // x does not require grad: no grad_input for the convolution. The C++
  // frontend's Linear calls addmm(bias, input, weight.t()).
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre("conv convolution output", "conv convolution grad_weight",
                                                    "conv convolution grad_bias", "fc addmm output",
                                                    "fc addmm grad_self", "fc addmm grad_mat1",
                                                    "fc addmm grad_mat2"));
}

TEST(Fp32AccumulateProbe, NamesParameterlessCallsByOrder) {
  Fp32AccumulateProbe probe;
  const auto a = torch::randn({3, 4}).to(at::kHalf);
  {
    auto scope = probe.engage();
    torch::mm(a, a.t());
    torch::mm(a.t(), a);
  }
  std::vector<std::string> layers;
  for (const auto& c : probe.comparisons()) layers.push_back(c.layer);
  EXPECT_EQ(layers, (std::vector<std::string>{"mm#1", "mm#2"}));
}

TEST(MergeComparison, SumsCountsAndKeepsMaxima) {
  std::vector<ProductComparison> rows;
  ProductComparison a{"linear", "fc", "output", "Half", 1, 10, 2, 1, 0.5, 0.5};
  ProductComparison b{"linear", "fc", "output", "Half", 1, 10, 3, 4, 2.0, 0.25};
  ProductComparison c{"linear", "fc", "grad_weight", "Half", 1, 6, 0, 0, 0.5, 0.5};
  merge_comparison(rows, a);
  merge_comparison(rows, b);
  merge_comparison(rows, c);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].calls, 2);
  EXPECT_EQ(rows[0].elements, 20);
  EXPECT_EQ(rows[0].differing, 5);
  EXPECT_EQ(rows[0].max_ulp_distance, 4);
  EXPECT_EQ(rows[0].native_max_error, 2.0);
  EXPECT_EQ(rows[0].fp32_accumulate_max_error, 0.5);
}

}  // namespace
}  // namespace tiebreak::precision
