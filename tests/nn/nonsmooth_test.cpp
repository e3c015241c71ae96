// The Nonsmooth policy: its description, pool kind names and the layers its factories make.
#include "tiebreak/nn/nonsmooth.h"
#include "support/test_support.h"

#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/norm_pool.h"
#include "tiebreak/nn/modules/pooling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>
#include <cmath>

namespace tiebreak::nn {
namespace {

using ::testing::HasSubstr;

TEST(Nonsmooth, DescribeNamesEveryChoiceWithShortestNumbers) {
  EXPECT_EQ(Nonsmooth().describe(), "maxpool(beta=0, pure), relu'(0)=0");
  EXPECT_EQ(Nonsmooth().beta(1000).formulation(ops::PoolFormulation::Mixture).relu_alpha(1).describe(),
            "maxpool(beta=1000, mixture), relu'(0)=1");
  EXPECT_EQ(Nonsmooth().beta(0.25).describe(), "maxpool(beta=0.25, pure), relu'(0)=0");
  EXPECT_EQ(Nonsmooth().pool(PoolKind::NormPool).grad_at_zero(1).relu_alpha(0.5).describe(),
            "normpool(grad_at_zero=1), relu'(0)=0.5");
}

TEST(Nonsmooth, PoolKindNamesRoundTrip) {
  for (auto kind : {PoolKind::MaxPool, PoolKind::NormPool})
    EXPECT_EQ(core::parse_enum<PoolKind>(to_string(kind), "pool"), kind);
  try {
    core::parse_enum<PoolKind>("avgpool", "nonsmooth.pool");
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what_without_backtrace(),
                HasSubstr("nonsmooth.pool: expected one of maxpool|normpool, got \"avgpool\""));
  }
}

TEST(Nonsmooth, MakePoolRejectsBadGeometryWithTheOperatorsMessages) {
  using testing::error_message;
  EXPECT_THAT(error_message([] { Nonsmooth().make_pool(0, 1); }),
              HasSubstr("max_pool2d: kernel_size must be greater than zero, got (0, 0)"));
  EXPECT_THAT(error_message([] { Nonsmooth().make_pool(2, 0); }),
              HasSubstr("max_pool2d: stride must be greater than zero, got (0, 0)"));
  EXPECT_THAT(
      error_message([] { Nonsmooth().make_pool(2, 2, 2); }),
      HasSubstr("max_pool2d: pad should be at most half of effective kernel size, but got pad=(2, 2)"));
  EXPECT_THAT(error_message([] { Nonsmooth().make_pool(2, 2, -1); }),
              HasSubstr("max_pool2d: padding must be non-negative, got (-1, -1)"));
  EXPECT_THAT(error_message([] { Nonsmooth().beta(std::nan("")).make_pool(2, 2); }),
              HasSubstr("max_pool2d: beta must be finite, got nan"));
  EXPECT_THAT(error_message([] { Nonsmooth().pool(PoolKind::NormPool).make_pool(2, 0); }),
              HasSubstr("norm_pool2d: stride must be greater than zero, got (0, 0)"));
  EXPECT_THAT(
      error_message([] { Nonsmooth().pool(PoolKind::NormPool).grad_at_zero(INFINITY).make_pool(2, 2); }),
      HasSubstr("norm_pool2d: grad_at_zero must be finite, got inf"));
}

TEST(Nonsmooth, MakePoolBuildsAMaxPool2dWithTheJacobianChoice) {
  auto any = Nonsmooth().beta(1000).formulation(ops::PoolFormulation::Mixture).make_pool(3, 2, 1);
  auto pool = std::dynamic_pointer_cast<MaxPool2dImpl>(any.ptr());
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->options.beta(), 1000);
  EXPECT_EQ(pool->options.formulation(), ops::PoolFormulation::Mixture);
  EXPECT_EQ((*pool->options.kernel_size())[1], 3);
  EXPECT_EQ((*pool->options.stride())[0], 2);
  EXPECT_EQ((*pool->options.padding())[1], 1);
  EXPECT_EQ(any.forward(torch::randn({1, 2, 8, 8})).sizes(), (std::vector<int64_t>{1, 2, 4, 4}));
}

TEST(Nonsmooth, MakePoolBuildsANormPool2dForTheNormPoolKind) {
  auto any = Nonsmooth().pool(PoolKind::NormPool).grad_at_zero(1).make_pool(2, 2);
  auto pool = std::dynamic_pointer_cast<NormPool2dImpl>(any.ptr());
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->options.grad_at_zero(), 1.0);
  auto x = torch::tensor({3.0, 4.0, 0.0, 0.0}).reshape({1, 1, 2, 2});
  EXPECT_NEAR(any.forward(x).item<double>(), 5.0, 1e-6);  // sqrt(9 + 16)
}

TEST(Nonsmooth, MakeReluBuildsAReluWithTheDerivativeAtZero) {
  auto any = Nonsmooth().relu_alpha(0.25).make_relu();
  auto relu = std::dynamic_pointer_cast<ReLUImpl>(any.ptr());
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->options.alpha(), 0.25);
  auto x = torch::zeros({3}, torch::requires_grad());
  any.forward(x).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::full({3}, 0.25)));
}

TEST(Nonsmooth, EachMadeLayerHasItsOwnCounter) {
  const Nonsmooth policy;
  auto a = std::dynamic_pointer_cast<ReLUImpl>(policy.make_relu().ptr());
  auto b = std::dynamic_pointer_cast<ReLUImpl>(policy.make_relu().ptr());
  EXPECT_NE(a->counter(), b->counter());
}

}  // namespace
}  // namespace tiebreak::nn
