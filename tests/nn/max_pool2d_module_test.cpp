// tiebreak::nn::MaxPool2d and nn::functional::max_pool2d: options plumbing,
// agreement with the operator, the tie counter, clone and printing.

#include "tiebreak/nn/functional/pooling.h"
#include "tiebreak/nn/modules/pooling.h"
#include "tiebreak/ops/max_pool2d.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

namespace {

namespace tnn = tiebreak::nn;
namespace F = tiebreak::nn::functional;
using tiebreak::ops::PoolFormulation;

/// 1×1×4×4 input whose four 2×2 windows have t = 4, 2, 1, 1.
at::Tensor known_ties() {
  return at::tensor({3.0, 3.0, 7.0, 1.0,  //
                     3.0, 3.0, 7.0, 2.0,  //
                     0.0, 9.0, 4.0, 5.0,  //
                     1.0, 2.0, 6.0, 3.0},
                    at::kFloat)
      .view({1, 1, 4, 4});
}

TEST(MaxPool2dModule, ForwardAndBackwardMatchTheOperator) {
  at::manual_seed(1);
  const auto x = at::randint(0, 3, {2, 3, 7, 7}).to(at::kFloat);
  const auto options =
      tnn::MaxPool2dOptions(3).stride(2).padding(1).beta(1000).formulation(PoolFormulation::Mixture);
  tnn::MaxPool2d pool(options);
  auto a = x.clone().requires_grad_(true);
  auto b = x.clone().requires_grad_(true);
  const auto ya = pool(a);
  const auto yb =
      tiebreak::ops::max_pool2d(b, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, 1000, PoolFormulation::Mixture);
  EXPECT_TRUE(ya.equal(yb));
  const auto g = at::randn(ya.sizes());
  ya.backward(g);
  yb.backward(g);
  EXPECT_TRUE(a.grad().equal(b.grad()));
  EXPECT_TRUE(F::max_pool2d(x, options).equal(yb.detach()));
}

TEST(MaxPool2dModule, StrideDefaultsToKernelAndBetaZeroIsNative) {
  at::manual_seed(2);
  const auto x = at::randint(0, 3, {2, 2, 6, 6}).to(at::kFloat).requires_grad_(true);
  tnn::MaxPool2d pool(tnn::MaxPool2dOptions(2));
  EXPECT_EQ(*pool->options.stride(), c10::IntArrayRef({2, 2}));
  const auto y = pool(x);
  const auto native = torch::nn::functional::max_pool2d(x, torch::nn::functional::MaxPool2dFuncOptions(2));
  EXPECT_TRUE(y.equal(native));
  const auto g = at::randn(y.sizes());
  const auto grad = torch::autograd::grad({y}, {x}, {g})[0];
  const auto native_grad = torch::autograd::grad({native}, {x}, {g})[0];
  EXPECT_TRUE(grad.equal(native_grad));
}

TEST(MaxPool2dModule, TieCounterCountsWindowsTiedWindowsAndLargestT) {
  tnn::MaxPool2d pool(tnn::MaxPool2dOptions(2).beta(1));
  pool(known_ties());
  EXPECT_EQ(pool->counter()->stats().calls, 0) << "counter is off by default";

  pool->counter()->set_counting(tnn::TieCounting::Count);
  pool(known_ties());
  pool(known_ties());
  const auto s = pool->counter()->stats();
  EXPECT_EQ(s.calls, 2);
  EXPECT_EQ(s.points, 8);
  EXPECT_EQ(s.ties, 4);
  EXPECT_EQ(s.max_ties, 4);
  EXPECT_DOUBLE_EQ(s.tie_fraction(), 0.5);

  pool->counter()->reset();
  EXPECT_EQ(pool->counter()->stats().points, 0);

  tnn::TieCounter counter;
  counter.set_counting(tnn::TieCounting::Count);
  F::max_pool2d(known_ties(), tnn::MaxPool2dOptions(2), &counter);
  EXPECT_EQ(counter.stats().ties, 2);
}

TEST(TieCounter, OneSwitchSetsCountingAndRecordingTogether) {
  tnn::MaxPool2d pool(tnn::MaxPool2dOptions(2));
  const auto& counter = pool->counter();
  EXPECT_EQ(counter->counting(), tnn::TieCounting::Off);
  counter->set_counting(tnn::TieCounting::Record);
  EXPECT_TRUE(counter->enabled() && counter->recording());
  pool(known_ties());
  EXPECT_EQ(counter->stats().calls, 1);
  EXPECT_EQ(counter->recorded().size(), 1u);
  counter->set_counting(tnn::TieCounting::Count);
  pool(known_ties());
  EXPECT_EQ(counter->stats().calls, 2);
  EXPECT_EQ(counter->recorded().size(), 1u) << "Count keeps no mask";
  counter->set_counting(tnn::TieCounting::Off);
  EXPECT_FALSE(counter->enabled() || counter->recording());
  pool(known_ties());
  EXPECT_EQ(counter->stats().calls, 2) << "Off counts nothing";
}

TEST(MaxPool2dModule, CloneGetsAFreshCounterAndKeepsOptions) {
  tnn::MaxPool2d pool(tnn::MaxPool2dOptions(2).beta(0.5).formulation(PoolFormulation::Mixture));
  pool->counter()->set_counting(tnn::TieCounting::Count);
  pool(known_ties());
  auto copy = std::dynamic_pointer_cast<tnn::MaxPool2dImpl>(pool->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_NE(copy->counter(), pool->counter());
  EXPECT_EQ(copy->counter()->counting(), tnn::TieCounting::Count);
  EXPECT_EQ(copy->counter()->stats().calls, 0);
  EXPECT_EQ(copy->options.beta(), 0.5);
  EXPECT_EQ(copy->options.formulation(), PoolFormulation::Mixture);
  copy->forward(known_ties());
  EXPECT_EQ(copy->counter()->stats().calls, 1);
  EXPECT_EQ(pool->counter()->stats().calls, 1);
}

TEST(MaxPool2dModule, PrettyPrint) {
  std::ostringstream plain, full;
  tnn::MaxPool2d(tnn::MaxPool2dOptions(2).beta(1000).formulation(PoolFormulation::Mixture))
      ->pretty_print(plain);
  EXPECT_EQ(plain.str(),
            "tiebreak::nn::MaxPool2d(kernel_size=[2, 2], stride=[2, 2], beta=1000, formulation=mixture)");
  tnn::MaxPool2d(tnn::MaxPool2dOptions(3).stride(2).padding(1).dilation(2).ceil_mode(true).beta(0.5))
      ->pretty_print(full);
  EXPECT_EQ(full.str(),
            "tiebreak::nn::MaxPool2d(kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], dilation=[2, 2], "
            "ceil_mode=true, beta=0.5, formulation=pure)");
}

TEST(MaxPool2dModule, WorksInsideSequential) {
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3).padding(1)),
                            tnn::MaxPool2d(tnn::MaxPool2dOptions(2).beta(1)));
  const auto y = net->forward(at::randn({2, 1, 8, 8}));
  EXPECT_EQ(y.sizes(), c10::IntArrayRef({2, 2, 4, 4}));
  y.sum().backward();
  for (const auto& p : net->parameters()) EXPECT_TRUE(p.grad().defined());
}

}  // namespace
