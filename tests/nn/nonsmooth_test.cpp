// The Nonsmooth policy: its description, pool kind names and the layers its factories make.
#include "tiebreak/nn/nonsmooth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

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
  for (auto kind : {PoolKind::MaxPool, PoolKind::NormPool}) EXPECT_EQ(parse_pool_kind(to_string(kind)), kind);
  try {
    parse_pool_kind("avgpool");
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what_without_backtrace(),
                HasSubstr("expected \"maxpool\" or \"normpool\", got \"avgpool\""));
  }
}

TEST(Nonsmooth, MakePoolRejectsBadGeometry) {
  EXPECT_THROW(Nonsmooth().make_pool(0, 1), c10::Error);
  EXPECT_THROW(Nonsmooth().make_pool(2, 0), c10::Error);
  EXPECT_THROW(Nonsmooth().make_pool(2, 2, 2), c10::Error);
  EXPECT_THROW(Nonsmooth().make_pool(2, 2, -1), c10::Error);
}

}  // namespace
}  // namespace tiebreak::nn
