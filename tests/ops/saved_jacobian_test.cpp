#include "tiebreak/ops/saved_jacobian.h"

#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/pooling.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

namespace tiebreak::ops {
namespace {

// Same bits (so NaN == NaN and +0 != −0).
bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  return at::equal(a.contiguous().view(at::kByte), b.contiguous().view(at::kByte));
}

/// conv → ReLU(α) → MaxPool(2, β) → ReLU(α) → MaxPool(2, β) → linear, on integer-valued inputs and weights
/// (many exact ties in both pools, and exact zeros at the ReLUs).
struct Net {
  torch::nn::Conv2d conv{torch::nn::Conv2dOptions(2, 3, 3).padding(1)};
  nn::ReLU relu1, relu2;
  nn::MaxPool2d pool1, pool2;
  torch::nn::Linear fc{3 * 2 * 2, 4};

  Net(double beta, PoolFormulation formulation, double alpha)
      : relu1(nn::ReLUOptions().alpha(alpha)),
        relu2(nn::ReLUOptions().alpha(alpha)),
        pool1(nn::MaxPool2dOptions(2).beta(beta).formulation(formulation)),
        pool2(nn::MaxPool2dOptions(2).beta(beta).formulation(formulation)) {
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    conv->weight.copy_(torch::randint(-2, 3, conv->weight.sizes(), gen).to(at::kFloat));
    conv->bias.copy_(torch::randint(-1, 2, conv->bias.sizes(), gen).to(at::kFloat));
    fc->weight.copy_(torch::randn(fc->weight.sizes(), gen));
    fc->bias.zero_();
  }

  at::Tensor loss(const at::Tensor& x) {
    auto h = pool2(relu2(pool1(relu1(conv(x)))));
    return torch::nn::functional::cross_entropy(fc(h.flatten(1)), torch::tensor({0, 1, 2, 3, 0, 1}));
  }

  std::vector<at::Tensor> gradients() {
    std::vector<at::Tensor> g;
    for (auto* p : {&conv->weight, &conv->bias, &fc->weight, &fc->bias}) {
      g.push_back(p->grad().clone());
      p->mutable_grad() = at::Tensor();
    }
    return g;
  }
};

at::Tensor tied_input() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  return torch::randint(-1, 2, {6, 2, 8, 8}, gen).to(at::kFloat);
}

void expect_same(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(same_bits(a[k], b[k])) << "gradient " << k;
}

// A second backward through the kept graph with the nodes switched gives, bit for bit, the gradient of a
// forward and backward run with that value; restore() gives back the first one.
TEST(SavedJacobians, SwitchingBetaInTheGraphEqualsAForwardAtThatBeta) {
  const auto x = tied_input();
  for (double beta : {1.0, 1000.0, -3.5}) {
    SCOPED_TRACE(beta);
    Net fresh(beta, PoolFormulation::Pure, 0.0);
    fresh.loss(x).backward();
    const auto want = fresh.gradients();

    Net run(0.0, PoolFormulation::Pure, 0.0);
    const auto loss = run.loss(x);
    loss.backward({}, /*retain_graph=*/true);
    const auto at_zero = run.gradients();
    SavedJacobians saved(loss, JacobianParameter::MaxPoolBeta);
    EXPECT_EQ(saved.size(), 2u);  // one node per pooling call
    EXPECT_EQ(saved.forward_dependent(), 0u);
    saved.set(beta);
    loss.backward({}, /*retain_graph=*/true);
    const auto got = run.gradients();
    expect_same(got, want);
    // The ties matter: the switched gradient is not β = 0's.
    EXPECT_FALSE(same_bits(got[0], at_zero[0]));
    saved.restore();
    loss.backward();
    expect_same(run.gradients(), at_zero);
  }
}

TEST(SavedJacobians, SwitchingReluAlphaInTheGraphEqualsAForwardAtThatAlpha) {
  const auto x = tied_input();
  Net fresh(0.0, PoolFormulation::Pure, 0.5);
  fresh.loss(x).backward();
  Net run(0.0, PoolFormulation::Pure, 0.0);
  const auto loss = run.loss(x);
  SavedJacobians saved(loss, JacobianParameter::ReluAlpha);
  EXPECT_EQ(saved.size(), 2u);
  saved.set(0.5);
  loss.backward();
  expect_same(run.gradients(), fresh.gradients());
}

// The mixture's forward depends on β: its nodes cannot be switched afterwards.
TEST(SavedJacobians, TheMixtureIsForwardDependentAndRefused) {
  Net run(1000.0, PoolFormulation::Mixture, 0.0);
  const auto loss = run.loss(tied_input());
  SavedJacobians saved(loss, JacobianParameter::MaxPoolBeta);
  EXPECT_EQ(saved.size(), 0u);
  EXPECT_EQ(saved.forward_dependent(), 2u);
  try {
    saved.set(0.0);
    ADD_FAILURE() << "set() accepted a forward-dependent graph";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("mixture"), std::string::npos);
  }
}

TEST(SavedJacobians, AGraphWithoutTheOperatorHasNoNodes) {
  auto w = torch::ones({3}, torch::requires_grad());
  EXPECT_EQ(SavedJacobians((w * 2).sum(), JacobianParameter::MaxPoolBeta).size(), 0u);
  EXPECT_EQ(SavedJacobians(torch::ones({3}), JacobianParameter::ReluAlpha).size(), 0u);
  EXPECT_EQ(SavedJacobians(at::Tensor(), JacobianParameter::ReluAlpha).size(), 0u);
}

}  // namespace
}  // namespace tiebreak::ops
