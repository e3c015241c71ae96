#include "tiebreak/ops/relu.h"
#include "ops/relu_dispatch.h"
#include "support/test_support.h"
#include "tiebreak/nn/functional/activation.h"
#include "tiebreak/nn/modules/activation.h"

#include <gmock/gmock.h>

#include <ATen/OpMathType.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <sstream>

namespace {

using tiebreak::nn::ReLU;
using tiebreak::nn::ReLUOptions;

const std::vector<at::ScalarType> kDtypes = {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble};

// Same bits (so NaN == NaN and +0 != −0).
bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto int_type = a.element_size() == 2 ? at::kShort : (a.element_size() == 4 ? at::kInt : at::kLong);
  return at::equal(a.contiguous().view(int_type), b.contiguous().view(int_type));
}

at::Tensor special_values(at::ScalarType dtype) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto fixed = torch::tensor({-2.5, -0.0, 0.0, 1.5, inf, -inf, nan, 1e-30, -1e-30}, torch::kDouble);
  auto random = torch::randn({64}, torch::kDouble);
  random.index_put_({torch::indexing::Slice(0, 64, 7)}, 0.0);
  return torch::cat({fixed, random}).to(dtype);
}

// grad·ReLU'_α(x) written out per element: the specification, not the kernel.
at::Tensor reference_backward(const at::Tensor& g, const at::Tensor& x, double alpha) {
  auto out = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "reference", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    auto xa = x.accessor<scalar_t, 1>();
    auto ga = g.accessor<scalar_t, 1>();
    auto oa = out.accessor<scalar_t, 1>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double xi = static_cast<double>(xa[i]);
      if (std::isnan(xi) || xi > 0) {
        oa[i] = ga[i];
      } else if (xi < 0 || alpha == 0.0) {
        oa[i] = scalar_t(0);
      } else {
        oa[i] = static_cast<scalar_t>(static_cast<opmath_t>(alpha) * static_cast<opmath_t>(ga[i]));
      }
    }
  });
  return out;
}

TEST(ReLU, ForwardIsNativeReluBitForBit) {
  torch::manual_seed(0);
  for (auto dtype : kDtypes) {
    for (double alpha : {0.0, 1.0, 0.3}) {
      auto x = special_values(dtype);
      EXPECT_TRUE(same_bits(tiebreak::ops::relu(x, alpha), at::relu(x))) << dtype << " alpha=" << alpha;
    }
  }
}

TEST(ReLU, BackwardIsAlphaTimesGradAtPlusAndMinusZero) {
  for (auto dtype : kDtypes) {
    for (double alpha : {1.0, 0.5, -2.0, 0.1, 1000.0}) {
      auto x = torch::tensor({-1.0, -0.0, 0.0, 2.0}, torch::kDouble).to(dtype).requires_grad_();
      auto g = torch::tensor({3.0, 5.0, 7.0, 11.0}, torch::kDouble).to(dtype);
      auto y = tiebreak::ops::relu(x, alpha);
      auto grad = torch::autograd::grad({y}, {x}, {g})[0];
      auto expected = torch::tensor({0.0, 0.0, 0.0, 11.0}, torch::kDouble).to(dtype);
      // α·g rounded once from op-math (float for Half/BFloat16).
      auto opmath_product = [&](double gv) {
        return dtype == at::kDouble
                   ? torch::tensor({alpha * gv}, torch::kDouble)
                   : torch::tensor({static_cast<float>(alpha) * static_cast<float>(gv)}, torch::kFloat);
      };
      expected[1] = opmath_product(5.0).to(dtype)[0];
      expected[2] = opmath_product(7.0).to(dtype)[0];
      EXPECT_TRUE(same_bits(grad, expected)) << dtype << " alpha=" << alpha << "\n"
                                             << grad << "\n"
                                             << expected;
    }
  }
}

TEST(ReLU, BackwardMatchesSpecificationOnSpecialValues) {
  torch::manual_seed(1);
  for (auto dtype : kDtypes) {
    for (double alpha : {0.0, 1.0, 0.7, -3.0}) {
      auto x = special_values(dtype);
      auto g = torch::randn({x.numel()}, torch::kDouble).to(dtype);
      g[0] = std::numeric_limits<double>::infinity();
      g[2] = -std::numeric_limits<double>::infinity();
      auto grad = tiebreak::ops::relu_backward(g, x, alpha);
      EXPECT_TRUE(same_bits(grad, reference_backward(g, x, alpha))) << dtype << " alpha=" << alpha;
    }
  }
}

TEST(ReLU, AlphaZeroBackwardIsNativeBitForBit) {
  torch::manual_seed(2);
  for (auto dtype : kDtypes) {
    auto x = special_values(dtype);
    auto g = torch::randn({x.numel()}, torch::kDouble).to(dtype);
    g[1] = -std::numeric_limits<double>::infinity();  // at x = −0: native gives +0, not 0·(−inf)
    g[2] = -4.0;                                      // at x = +0: native gives +0, not −0
    auto native = at::threshold_backward(g, x, 0);
    EXPECT_TRUE(same_bits(tiebreak::ops::relu_backward(g, x, 0.0), native)) << dtype;
    EXPECT_TRUE(same_bits(tiebreak::ops::relu_backward_generic(g, x, 0.0), native)) << dtype;
  }
}

TEST(ReLU, GenericBackwardAgreesWithCpuLoop) {
  // The ATen-op backward is what non-CPU devices run: it must give the same bits.
  torch::manual_seed(3);
  for (auto dtype : kDtypes) {
    for (double alpha : {0.0, 1.0, 0.1, -7.25}) {
      auto x = special_values(dtype);
      auto g = (torch::randn({x.numel()}, torch::kDouble) * 1e3).to(dtype);
      EXPECT_TRUE(same_bits(tiebreak::ops::relu_backward_cpu(g, x, alpha),
                            tiebreak::ops::relu_backward_generic(g, x, alpha)))
          << dtype << " alpha=" << alpha;
    }
  }
}

TEST(ReLU, ChannelsLastInputKeepsLayoutAndValues) {
  torch::manual_seed(4);
  auto x = torch::randn({2, 3, 4, 5}).clamp_min(0).contiguous(at::MemoryFormat::ChannelsLast);
  auto g = torch::randn({2, 3, 4, 5});
  auto grad = tiebreak::ops::relu_backward(g, x, 0.5);
  auto expected = torch::where(x > 0, g, torch::where(x == 0, g * 0.5, torch::zeros_like(g)));
  EXPECT_TRUE(torch::equal(grad, expected));
  EXPECT_TRUE(grad.is_contiguous(at::MemoryFormat::ChannelsLast)) << grad.strides();
  // Through autograd too.
  auto leaf = x.clone().requires_grad_(true);
  tiebreak::ops::relu(leaf, 0.5).backward(g.contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(leaf.grad().is_contiguous(at::MemoryFormat::ChannelsLast)) << leaf.grad().strides();
  EXPECT_TRUE(torch::equal(leaf.grad(), expected));
}

TEST(ReLU, DispatcherOpWithAutogradAndDefaultAlpha) {
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow("tiebreak::relu", "");
  std::ostringstream schema;
  schema << op.schema();
  EXPECT_EQ(schema.str(), "tiebreak::relu(Tensor self, float alpha=0.) -> Tensor");
  auto typed = op.typed<at::Tensor(const at::Tensor&, double)>();
  auto x = torch::tensor({-1.0, 0.0, 2.0}, torch::requires_grad());
  auto y = typed.call(x, 0.25);
  ASSERT_TRUE(y.requires_grad());
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0, 0.25, 1.0})));
  EXPECT_TRUE(c10::Dispatcher::singleton().findSchema({"tiebreak::_relu_backward", ""}).has_value());
}

TEST(ReLU, RunsWithoutAutogradInInferenceMode) {
  c10::InferenceMode guard;
  auto x = torch::tensor({-1.0, 0.0, 3.0});
  EXPECT_TRUE(torch::equal(tiebreak::ops::relu(x, 1.0), torch::tensor({0.0, 0.0, 3.0})));
}

TEST(ReLU, RejectsIntegerInputAndNonFiniteAlphaNamingThem) {
  using ::testing::HasSubstr;
  using tiebreak::testing::error_message;
  EXPECT_THAT(error_message([] {
                tiebreak::ops::relu(torch::tensor({1, 2}), 0.0);
              }),
              HasSubstr("relu: expected a floating point input (Half, BFloat16, Float or Double), got Long"));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_THAT(error_message([&] { tiebreak::ops::relu(torch::ones({2}), inf); }),
              HasSubstr("relu: alpha (ReLU'(0)) must be finite, got inf"));
  EXPECT_THAT(error_message([] { ReLU(ReLUOptions().alpha(std::numeric_limits<double>::quiet_NaN())); }),
              HasSubstr("relu: alpha (ReLU'(0)) must be finite, got nan"));
  EXPECT_THAT(error_message([] { tiebreak::ops::relu_backward(torch::ones({3}), torch::ones({2}), 0.5); }),
              HasSubstr("relu backward: expected grad_output of shape [2], got [3]"));
  EXPECT_THAT(error_message(
                  [] { tiebreak::ops::relu_backward(torch::ones({2}, at::kDouble), torch::ones({2}), 0.5); }),
              HasSubstr("relu backward: expected grad_output of dtype Float, got Double"));
}

TEST(ReLUModule, PrettyPrintForwardAndBackward) {
  ReLU relu;
  std::ostringstream s;
  s << *relu;
  EXPECT_EQ(s.str(), "tiebreak::nn::ReLU(alpha=0)");
  ReLU relu1(ReLUOptions().alpha(0.5));
  std::ostringstream s1;
  s1 << *relu1;
  EXPECT_EQ(s1.str(), "tiebreak::nn::ReLU(alpha=0.5)");
  auto x = torch::tensor({-2.0, -0.0, 0.0, 4.0}, torch::requires_grad());
  auto y = relu1(x);
  EXPECT_TRUE(torch::equal(y, torch::tensor({0.0, 0.0, 0.0, 4.0})));
  y.backward(torch::full({4}, 2.0));
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0, 1.0, 1.0, 2.0})));
}

TEST(ReLUModule, CounterCountsExactZerosOnlyWhenEnabled) {
  ReLU relu;
  auto x = torch::tensor({-1.0, 0.0, -0.0, 1e-40, 2.0, 0.0});
  relu(x);
  EXPECT_EQ(relu->counter()->stats().calls, 0);
  relu->counter()->set_counting(tiebreak::nn::TieCounting::Count);
  relu(x);
  relu(torch::tensor({0.0, 1.0}));
  auto stats = relu->counter()->stats();
  EXPECT_EQ(stats.calls, 2);
  EXPECT_EQ(stats.points, 8);
  EXPECT_EQ(stats.ties, 4);  // 0, −0, 0 in the first call; 0 in the second (1e-40 is not zero in double)
}

TEST(ReLUModule, CloneHasFreshCounterAndSameOptions) {
  ReLU relu(ReLUOptions().alpha(2.0));
  relu->counter()->set_counting(tiebreak::nn::TieCounting::Count);
  relu(torch::zeros({3}));
  auto copy = std::dynamic_pointer_cast<tiebreak::nn::ReLUImpl>(relu->clone());
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->options.alpha(), 2.0);
  EXPECT_NE(copy->counter().get(), relu->counter().get());
  EXPECT_EQ(copy->counter()->stats().calls, 0);
  EXPECT_EQ(relu->counter()->stats().ties, 3);
}

TEST(ReLUFunctional, MatchesModuleAndFeedsCounter) {
  namespace F = tiebreak::nn::functional;
  tiebreak::nn::TieCounter counter;
  counter.set_counting(tiebreak::nn::TieCounting::Count);
  auto x = torch::tensor({0.0, -1.0, 3.0}, torch::requires_grad());
  auto y = F::relu(x, ReLUOptions().alpha(1.0), &counter);
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({1.0, 0.0, 1.0})));
  EXPECT_EQ(counter.stats().ties, 1);
  EXPECT_TRUE(torch::equal(F::relu(x.detach()), torch::tensor({0.0, 0.0, 3.0})));
}

}  // namespace
