#include "tiebreak/precision/fp32_accumulate.h"

#include "support/test_support.h"
#include "tiebreak/ops/max_pool2d.h"
#include "tiebreak/ops/relu.h"
#include "tiebreak/train/precision.h"

#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace tiebreak::precision {
namespace {

using Inputs = std::vector<at::Tensor>;

/// One intercepted operator: how to make its operands (all differentiable) and call it.
struct OpCase {
  std::string name;
  std::function<Inputs(at::ScalarType)> make;
  std::function<at::Tensor(const Inputs&)> run;
};

at::Tensor randn(at::IntArrayRef shape, at::ScalarType dtype) {
  return torch::randn(shape).to(dtype).requires_grad_();
}

std::vector<OpCase> op_cases() {
  namespace F = torch::nn::functional;
  return {
      {"conv2d",
       [](auto d) {
         return Inputs{randn({2, 3, 6, 6}, d), randn({4, 3, 3, 3}, d), randn({4}, d)};
       },
       [](const Inputs& t) { return torch::conv2d(t[0], t[1], t[2], 1, 1); }},
      {"conv2d_strided_no_bias",
       [](auto d) {
         return Inputs{randn({2, 3, 7, 7}, d), randn({5, 3, 3, 3}, d)};
       },
       [](const Inputs& t) { return torch::conv2d(t[0], t[1], {}, 2); }},
      {"conv1d",
       [](auto d) {
         return Inputs{randn({2, 3, 9}, d), randn({4, 3, 3}, d), randn({4}, d)};
       },
       [](const Inputs& t) { return torch::conv1d(t[0], t[1], t[2]); }},
      {"conv_transpose2d",
       [](auto d) {
         return Inputs{randn({2, 4, 5, 5}, d), randn({4, 3, 3, 3}, d), randn({3}, d)};
       },
       [](const Inputs& t) { return torch::conv_transpose2d(t[0], t[1], t[2], 2); }},
      {"linear",
       [](auto d) {
         return Inputs{randn({5, 7}, d), randn({3, 7}, d), randn({3}, d)};
       },
       [](const Inputs& t) { return torch::linear(t[0], t[1], t[2]); }},
      {"linear_3d",
       [](auto d) {
         return Inputs{randn({2, 5, 7}, d), randn({3, 7}, d), randn({3}, d)};
       },
       [](const Inputs& t) { return torch::linear(t[0], t[1], t[2]); }},
      {"matmul",
       [](auto d) {
         return Inputs{randn({2, 3, 4}, d), randn({4, 5}, d)};
       },
       [](const Inputs& t) { return torch::matmul(t[0], t[1]); }},
      {"mm",
       [](auto d) {
         return Inputs{randn({3, 4}, d), randn({4, 5}, d)};
       },
       [](const Inputs& t) { return torch::mm(t[0], t[1]); }},
      {"addmm",
       [](auto d) {
         return Inputs{randn({3, 5}, d), randn({3, 4}, d), randn({4, 5}, d)};
       },
       [](const Inputs& t) { return torch::addmm(t[0], t[1], t[2], 0.5, 2.0); }},
      {"bmm",
       [](auto d) {
         return Inputs{randn({2, 3, 4}, d), randn({2, 4, 5}, d)};
       },
       [](const Inputs& t) { return torch::bmm(t[0], t[1]); }},
      {"baddbmm",
       [](auto d) {
         return Inputs{randn({2, 3, 5}, d), randn({2, 3, 4}, d), randn({2, 4, 5}, d)};
       },
       [](const Inputs& t) { return torch::baddbmm(t[0], t[1], t[2], 0.5, 2.0); }},
      {"batch_norm_eval",
       [](auto d) {
         return Inputs{randn({4, 3, 2, 2}, d), randn({3}, d), randn({3}, d)};
       },
       [](const Inputs& t) {
         const auto o = t[0].options().requires_grad(false);
         return torch::batch_norm(t[0], t[1], t[2], torch::full({3}, 0.25, o), torch::full({3}, 2.0, o),
                                  false, 0.1, 1e-5, false);
       }},
  };
}

Inputs detached(const Inputs& inputs, at::ScalarType dtype) {
  Inputs out;
  for (const auto& t : inputs) out.push_back(t.detach().to(dtype).requires_grad_());
  return out;
}

bool bit_equal(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && torch::equal(a, b);
}

class InterceptedOp : public ::testing::TestWithParam<std::tuple<size_t, at::ScalarType>> {};

// The defining property: with the guard, each result — the forward output and
// every backward product — is the float computation on the 16-bit values,
// rounded once to the 16-bit type.
TEST_P(InterceptedOp, EveryProductIsTheFloatComputationRoundedOnce) {
  const auto cases = op_cases();
  const auto& c = cases[std::get<0>(GetParam())];
  const auto dtype = std::get<1>(GetParam());
  torch::manual_seed(3);
  const Inputs inputs = c.make(dtype);
  at::Tensor out;
  {
    Fp32AccumulateGuard guard;
    out = c.run(inputs);
  }
  ASSERT_EQ(out.scalar_type(), dtype);
  // Routed through the cast, not LibTorch's 16-bit kernel.
  EXPECT_EQ(out.grad_fn()->name(), "ToCopyBackward0");
  const auto grad = torch::randn(out.sizes()).to(dtype);
  out.backward(grad);

  const Inputs wide = detached(inputs, at::kFloat);
  const auto expected = c.run(wide);
  expected.backward(grad.to(at::kFloat));
  EXPECT_TRUE(bit_equal(out, expected.to(dtype))) << c.name << " output";
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(inputs[i].grad().defined()) << c.name << " operand " << i;
    EXPECT_EQ(inputs[i].grad().scalar_type(), dtype);
    EXPECT_TRUE(bit_equal(inputs[i].grad(), wide[i].grad().to(dtype))) << c.name << " grad of operand " << i;
  }
}

std::string op_case_name(const ::testing::TestParamInfo<std::tuple<size_t, at::ScalarType>>& info) {
  return op_cases()[std::get<0>(info.param)].name + "_" + c10::toString(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Operators, InterceptedOp,
                         ::testing::Combine(::testing::Range<size_t>(0, 12),
                                            ::testing::Values(at::kHalf, at::kBFloat16)),
                         op_case_name);

// With bf16_products_native, a BFloat16 product is LibTorch's own kernel's result (forward and every
// backward product), batch norm is still the float computation rounded once, and Half is untouched.
TEST(Fp32Accumulate, Bf16ProductsNativeLeavesOnlyBFloat16ProductsToLibTorch) {
  const auto cases = op_cases();
  for (const auto& c : cases) {
    for (auto dtype : {at::kHalf, at::kBFloat16}) {
      SCOPED_TRACE(c.name + " " + c10::toString(dtype));
      torch::manual_seed(11);
      const Inputs inputs = c.make(dtype);
      at::Tensor out;
      {
        Fp32AccumulateGuard guard(true, /*bf16_products_native=*/true);
        EXPECT_TRUE(bf16_products_native_enabled());
        out = c.run(inputs);
      }
      EXPECT_FALSE(bf16_products_native_enabled());
      const auto grad = torch::randn(out.sizes()).to(dtype);
      out.backward(grad);
      const bool native = dtype == at::kBFloat16 && c.name.rfind("batch_norm", 0) != 0;
      const Inputs reference = detached(inputs, native ? dtype : at::kFloat);
      const auto expected = c.run(reference);
      expected.backward(grad.to(expected.scalar_type()));
      EXPECT_EQ(out.grad_fn()->name() == "ToCopyBackward0", !native);
      EXPECT_TRUE(bit_equal(out, expected.to(dtype))) << "output";
      for (size_t i = 0; i < inputs.size(); ++i)
        EXPECT_TRUE(bit_equal(inputs[i].grad(), reference[i].grad().to(dtype))) << "grad of operand " << i;
    }
  }
}

TEST(Fp32Accumulate, OperatorCasesCoverEveryInterceptedOperator) {
  EXPECT_EQ(op_cases().size(), 12u);
  EXPECT_THAT(
      fp32_accumulate_operators(),
      ::testing::UnorderedElementsAre("aten::convolution", "aten::linear", "aten::matmul", "aten::mm",
                                      "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::batch_norm"));
}

TEST(Fp32Accumulate, BatchNormTrainingUpdatesSixteenBitRunningStatisticsOnce) {
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    torch::manual_seed(5);
    auto x = randn({8, 3, 4, 4}, dtype);
    auto w = randn({3}, dtype);
    auto b = randn({3}, dtype);
    auto mean = torch::rand({3}).to(dtype);
    auto var = (torch::rand({3}) + 0.5).to(dtype);
    auto mean_wide = mean.to(at::kFloat);
    auto var_wide = var.to(at::kFloat);
    at::Tensor out;
    {
      Fp32AccumulateGuard guard;
      out = torch::batch_norm(x, w, b, mean, var, true, 0.1, 1e-5, false);
    }
    auto grad = torch::randn(out.sizes()).to(dtype);
    out.backward(grad);
    const auto wide = detached({x, w, b}, at::kFloat);
    auto expected = torch::batch_norm(wide[0], wide[1], wide[2], mean_wide, var_wide, true, 0.1, 1e-5, false);
    expected.backward(grad.to(at::kFloat));
    EXPECT_EQ(mean.scalar_type(), dtype);
    EXPECT_TRUE(bit_equal(mean, mean_wide.to(dtype)));
    EXPECT_TRUE(bit_equal(var, var_wide.to(dtype)));
    EXPECT_TRUE(bit_equal(out, expected.to(dtype)));
    EXPECT_TRUE(bit_equal(x.grad(), wide[0].grad().to(dtype)));
    EXPECT_TRUE(bit_equal(w.grad(), wide[1].grad().to(dtype)));
    EXPECT_TRUE(bit_equal(b.grad(), wide[2].grad().to(dtype)));
  }
}

TEST(Fp32Accumulate, BatchNormWithFloatParametersKeepsTheirGradientsInFloat) {
  // LibTorch's mixed-type batch norm: 16-bit input, float parameters and statistics.
  torch::manual_seed(6);
  auto x = randn({8, 3, 4, 4}, at::kHalf);
  auto w = torch::randn({3}).requires_grad_();
  auto mean = torch::zeros({3});
  auto var = torch::ones({3});
  at::Tensor out;
  {
    Fp32AccumulateGuard guard;
    out = torch::batch_norm(x, w, {}, mean, var, true, 0.1, 1e-5, false);
  }
  EXPECT_EQ(out.scalar_type(), at::kHalf);
  out.sum().backward();
  EXPECT_EQ(w.grad().scalar_type(), at::kFloat);
  EXPECT_GT(mean.abs().sum().item<float>(), 0.0f);  // updated in place, still float
  EXPECT_EQ(mean.scalar_type(), at::kFloat);
}

TEST(Fp32Accumulate, OtherCallsGoToTheNativeKernelUnchanged) {
  torch::manual_seed(7);
  auto x = torch::randn({2, 3, 6, 6});
  auto w = torch::randn({4, 3, 3, 3});
  at::Tensor float_out, half_out;
  {
    Fp32AccumulateGuard guard;
    float_out = torch::conv2d(x, w);
    // Mixed operand dtypes: the native kernel's own error, not a silent widening.
    const auto mixed = testing::error_message([&] { torch::conv2d(x.to(at::kHalf), w); });
    const auto native = testing::error_message([&] {
      c10::impl::ExcludeDispatchKeyGuard off(fp32_accumulate_dispatch_key());
      torch::conv2d(x.to(at::kHalf), w);
    });
    EXPECT_NE(mixed, "<no error>");
    EXPECT_EQ(mixed, native);
  }
  EXPECT_TRUE(bit_equal(float_out, torch::conv2d(x, w)));
  {
    Fp32AccumulateGuard disengaged(false);
    EXPECT_FALSE(fp32_accumulate_enabled());
    half_out = torch::conv2d(x.to(at::kHalf).requires_grad_(), w.to(at::kHalf));
  }
  EXPECT_EQ(half_out.grad_fn()->name(), "ConvolutionBackward0");
}

TEST(Fp32Accumulate, LeavesTiebreaksOperatorsAndElementwiseOpsAsTheyAre) {
  torch::manual_seed(8);
  // ReLU(N(0,1)) activations: many tied (all-zero) windows.
  auto x = torch::relu(torch::randn({2, 3, 8, 8})).to(at::kHalf);
  auto run = [&](bool guarded) {
    auto leaf = x.detach().requires_grad_();
    at::Tensor y;
    {
      Fp32AccumulateGuard guard(guarded);
      y = ops::relu(ops::max_pool2d(leaf, {2, 2}, {2, 2}, 0, 1, false, 1000.0, ops::PoolFormulation::Mixture),
                    0.5);
      y = torch::log_softmax(y.flatten(1), 1);
    }
    y.backward(torch::ones_like(y));
    return std::make_pair(y.detach(), leaf.grad());
  };
  const auto [y_native, g_native] = run(false);
  const auto [y_guarded, g_guarded] = run(true);
  EXPECT_EQ(y_guarded.scalar_type(), at::kHalf);
  EXPECT_TRUE(bit_equal(y_native, y_guarded));
  EXPECT_TRUE(bit_equal(g_native, g_guarded));
}

TEST(Fp32Accumulate, GuardsNestAndRestoreTheThreadState) {
  ASSERT_FALSE(fp32_accumulate_enabled());
  {
    Fp32AccumulateGuard outer;
    EXPECT_TRUE(fp32_accumulate_enabled());
    {
      Fp32AccumulateGuard inner;
      EXPECT_TRUE(fp32_accumulate_enabled());
    }
    EXPECT_TRUE(fp32_accumulate_enabled());
    {
      Fp32AccumulateGuard off(false);
      EXPECT_TRUE(fp32_accumulate_enabled());
    }
  }
  EXPECT_FALSE(fp32_accumulate_enabled());
  // Thread-local, like autocast.
  Fp32AccumulateGuard here;
  bool elsewhere = true;
  std::thread([&] { elsewhere = fp32_accumulate_enabled(); }).join();
  EXPECT_FALSE(elsewhere);
}

TEST(Fp32Accumulate, ComposesWithAutocastOnTheCpu) {
  // amp on the CPU: autocast narrows linear's operands to Half, then the guard
  // computes the narrowed call in float and rounds once.
  torch::manual_seed(9);
  auto x = torch::randn({4, 6});
  auto w = torch::randn({3, 6});
  auto b = torch::randn({3});
  at::Tensor out;
  {
    train::AutocastGuard autocast(at::kCPU, at::kHalf);
    Fp32AccumulateGuard guard;
    out = torch::linear(x, w, b);
  }
  EXPECT_EQ(out.scalar_type(), at::kHalf);
  const auto h = [](const at::Tensor& t) { return t.to(at::kHalf).to(at::kFloat); };
  EXPECT_TRUE(bit_equal(out, torch::linear(h(x), h(w), h(b)).to(at::kHalf)));
}

TEST(Fp32Accumulate, LeavesCudaTensorsToTheirNativeKernels) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (skipped, not failed)";
  torch::manual_seed(10);
  auto x = torch::randn({2, 3, 6, 6}, torch::kCUDA).to(at::kHalf).requires_grad_();
  auto w = torch::randn({4, 3, 3, 3}, torch::kCUDA).to(at::kHalf);
  at::Tensor out;
  {
    Fp32AccumulateGuard guard;
    out = torch::conv2d(x, w);
  }
  EXPECT_EQ(out.scalar_type(), at::kHalf);
  EXPECT_NE(out.grad_fn()->name(), "ToCopyBackward0");
  EXPECT_TRUE(torch::allclose(out, torch::conv2d(x, w), 1e-3, 1e-3));
}

}  // namespace
}  // namespace tiebreak::precision
