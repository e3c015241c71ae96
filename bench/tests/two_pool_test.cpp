// The C++ two-pool baseline must compute what tiebreak's Mixture formulation
// computes (the study's β·MinNormPool + (1−β)·MaxPool2d), or the op benchmark
// would compare different work.

#include "support/bench_support.h"

#include "tiebreak/ops/max_pool2d.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace tiebreak::bench {
namespace {

struct Result {
  at::Tensor output;
  at::Tensor grad;
};

template <typename Fn>
Result run(const at::Tensor& x, const at::Tensor& upstream, Fn pool) {
  auto leaf = x.detach().clone().requires_grad_(true);
  auto y = pool(leaf);
  y.backward(upstream);
  return {y.detach(), leaf.grad()};
}

/// ReLU of small integers and Gaussians: many all-zero and integer ties.
at::Tensor tie_heavy(const std::vector<int64_t>& sizes, at::ScalarType dtype) {
  const auto levels = at::randint(-2, 3, sizes, at::kDouble);
  const auto noise = at::randn(sizes, at::kDouble);
  const auto pick = at::rand(sizes, at::kDouble) < 0.5;
  return at::relu(at::where(pick, levels, noise)).to(dtype);
}

TEST(TwoPoolBaseline, TiledWindowsMatchTiebreakMixtureBitForBit) {
  at::manual_seed(3);
  const PoolShape shape{"tiled", {3, 4, 8, 12}, 2, 2, 0};
  for (auto dtype : {at::kHalf, at::kFloat, at::kDouble}) {
    const auto x = tie_heavy(shape.input_sizes, dtype);
    const auto upstream = at::randn({3, 4, 4, 6}, at::kDouble).to(dtype);
    for (double beta : {0.0, 1.0, 1000.0}) {
      SCOPED_TRACE(c10::str(dtype, " beta=", beta));
      const auto baseline =
          run(x, upstream, [&](const at::Tensor& t) { return two_pool_mixture(t, shape, beta); });
      const auto ours = run(x, upstream, [&](const at::Tensor& t) {
        return ops::max_pool2d(t, {2, 2}, {2, 2}, 0, 1, false, beta, ops::PoolFormulation::Mixture);
      });
      EXPECT_TRUE(at::equal(baseline.output, ours.output));
      EXPECT_TRUE(at::equal(baseline.grad, ours.grad)) << (baseline.grad - ours.grad).abs().max();
    }
  }
}

TEST(TwoPoolBaseline, OverlappingPaddedWindowsMatchTiebreakMixtureBitForBit) {
  at::manual_seed(4);
  const PoolShape shape{"stem", {2, 3, 11, 9}, 3, 2, 1};
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble}) {
    const auto x = tie_heavy(shape.input_sizes, dtype);
    const auto out_sizes = at::max_pool2d(x, 3, 2, 1).sizes().vec();
    const auto upstream = at::randn(out_sizes, at::kDouble).to(dtype);
    for (double beta : {0.0, 1.0, 1000.0}) {
      SCOPED_TRACE(c10::str(dtype, " beta=", beta));
      const auto baseline =
          run(x, upstream, [&](const at::Tensor& t) { return two_pool_mixture(t, shape, beta); });
      const auto ours = run(x, upstream, [&](const at::Tensor& t) {
        return ops::max_pool2d(t, {3, 3}, {2, 2}, {1, 1}, 1, false, beta, ops::PoolFormulation::Mixture);
      });
      // NaN where fp16 overflows (β·m + (1−β)·m = inf − inf), the same bits elsewhere.
      EXPECT_TRUE(at::equal(at::isnan(baseline.output), at::isnan(ours.output)));
      EXPECT_TRUE(at::equal(baseline.output.nan_to_num(0), ours.output.nan_to_num(0)));
      EXPECT_TRUE(at::equal(at::isnan(baseline.grad), at::isnan(ours.grad)));
      EXPECT_TRUE(at::equal(baseline.grad.nan_to_num(0), ours.grad.nan_to_num(0)))
          << (baseline.grad - ours.grad).abs().max();
    }
  }
}

TEST(TwoPoolBaseline, MinNormPoolAloneSharesTheGradientAmongTies) {
  // One 2×2 window with three tied maxima and one smaller value.
  const auto x = at::tensor({5.0, 5.0, 1.0, 5.0}, at::kDouble).view({1, 1, 2, 2});
  auto leaf = x.clone().requires_grad_(true);
  TwoPoolMinNormPool::apply(leaf, 2, 2, 0).backward(at::full({1, 1, 1, 1}, 6.0, at::kDouble));
  const auto expected = at::tensor({2.0, 2.0, 0.0, 2.0}, at::kDouble).view({1, 1, 2, 2});
  EXPECT_TRUE(at::equal(leaf.grad(), expected)) << leaf.grad();
}

}  // namespace
}  // namespace tiebreak::bench
