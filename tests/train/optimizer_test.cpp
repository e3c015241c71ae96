#include "tiebreak/train/optimizer.h"
#include "tiebreak/train/innaprop.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

namespace tiebreak::train {
namespace {

/// INNAprop written out per scalar, straight from the paper's update, as the
/// reference for the tensor implementation.
struct ScalarInnaprop {
  double lr, alpha, beta, sigma, eps, wd;
  double theta, psi, v = 0;
  int t = 0;
  ScalarInnaprop(double theta0, double lr_, double alpha_, double beta_, double sigma_, double eps_,
                 double wd_)
      : lr(lr_),
        alpha(alpha_),
        beta(beta_),
        sigma(sigma_),
        eps(eps_),
        wd(wd_),
        theta(theta0),
        psi((1 - alpha_ * beta_) * theta0) {}
  void step(double g) {
    ++t;
    theta = theta * (1 - lr * wd);
    v = sigma * v + (1 - sigma) * g * g;
    double d = std::sqrt(v) / std::sqrt(1 - std::pow(sigma, t)) + eps;
    psi = (1 - lr / beta) * psi + lr * (1 / beta - alpha) * theta;
    theta = (1 + lr * (1 - alpha * beta) / (beta - lr)) * theta - lr / (beta - lr) * psi - lr * beta * g / d;
  }
};

TEST(INNAprop, MatchesTheScalarUpdateInFp64) {
  auto theta = torch::tensor({1.5, -0.25, 3.0}, torch::kDouble).requires_grad_();
  const double lr = 0.05, alpha = 0.3, beta = 0.7, sigma = 0.9, eps = 1e-8, wd = 0.02;
  INNAprop opt({theta}, INNApropOptions(lr).alpha(alpha).beta(beta).sigma(sigma).eps(eps).weight_decay(wd));
  std::vector<ScalarInnaprop> ref;
  for (int i = 0; i < 3; ++i) ref.emplace_back(theta[i].item<double>(), lr, alpha, beta, sigma, eps, wd);
  for (int step = 0; step < 5; ++step) {
    opt.zero_grad();
    // f(θ) = Σ θ³/3 + θ: gradient θ² + 1, taken at the current iterate.
    auto loss = (theta.pow(3) / 3 + theta).sum();
    loss.backward();
    for (int i = 0; i < 3; ++i) ref[i].step(ref[i].theta * ref[i].theta + 1);
    opt.step();
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(theta[i].item<double>(), ref[i].theta, 1e-14 * std::max(1.0, std::abs(ref[i].theta)))
          << "step " << step << " element " << i;
    }
  }
}

TEST(INNAprop, FirstStepByHand) {
  // θ0 = 1, g = 2, lr = 0.1, α = 0.5, β = 1, σ = 0.5, ε = 0, wd = 0:
  // ψ0 = 0.5; v = 0.5·4 = 2; d = √2/√0.5 = 2; ψ = 0.9·0.5 + 0.1·0.5·1 = 0.5;
  // θ = (1 + 0.1·0.5/0.9)·1 − (0.1/0.9)·0.5 − 0.1·1·2/2 = 1 + 0.05/0.9 − 0.05/0.9 − 0.1 = 0.9.
  auto theta = torch::tensor({1.0}, torch::kDouble).requires_grad_();
  INNAprop opt({theta}, INNApropOptions(0.1).alpha(0.5).beta(1.0).sigma(0.5).eps(0).weight_decay(0));
  (theta * 2).sum().backward();
  opt.step();
  EXPECT_NEAR(theta.item<double>(), 0.9, 1e-15);
}

/// The message of the c10::Error `f` throws ("<no error>" if none), without the backtrace.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "<no error>";
}

TEST(INNAprop, RejectsLrNotBelowBeta) {
  auto theta = torch::zeros({1}, torch::kDouble).requires_grad_();
  const std::string at_construction = error_of([&] { INNAprop({theta}, INNApropOptions(0.9).beta(0.9)); });
  EXPECT_NE(at_construction.find("INNAprop: expected lr < beta (the update divides by beta - lr), got lr 0.9 "
                                 "and beta 0.9"),
            std::string::npos)
      << at_construction;
  EXPECT_EQ(at_construction.find('\n'), std::string::npos) << at_construction;
  INNAprop opt({theta}, INNApropOptions(0.1).beta(0.9));
  set_learning_rate(opt, 1.0);
  theta.sum().backward();
  const std::string at_step = error_of([&] { opt.step(); });
  EXPECT_NE(
      at_step.find("INNAprop: expected lr < beta (the update divides by beta - lr), got lr 1 and beta 0.9"),
      std::string::npos)
      << at_step;
}

TEST(INNAprop, StateSurvivesSaveAndLoad) {
  auto make = [] { return torch::tensor({0.5, -1.0, 2.0}, torch::kDouble).requires_grad_(); };
  auto grad_step = [](torch::Tensor& p, INNAprop& opt) {
    opt.zero_grad();
    (p * p * p).sum().backward();
    opt.step();
  };
  auto a = make();
  INNAprop opt_a({a}, INNApropOptions(0.01));
  for (int i = 0; i < 3; ++i) grad_step(a, opt_a);
  std::stringstream buffer;
  {
    torch::serialize::OutputArchive archive;
    opt_a.save(archive);
    archive.save_to(buffer);
  }
  auto b = a.detach().clone().requires_grad_();
  INNAprop opt_b({b}, INNApropOptions(0.01));
  torch::serialize::InputArchive archive;
  archive.load_from(buffer);
  opt_b.load(archive);
  const auto& state = static_cast<const INNApropParamState&>(*opt_b.state().at(b.unsafeGetTensorImpl()));
  EXPECT_EQ(state.step(), 3);
  for (int i = 0; i < 2; ++i) {
    grad_step(a, opt_a);
    grad_step(b, opt_b);
  }
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(MakeOptimizer, BuildsEachKindWithItsOptions) {
  // Every field gets a value of its own, none a default, so a swapped or ignored field shows.
  auto p = torch::zeros({2}).requires_grad_();
  config::OptimizerConfig c;
  c.lr = 0.2;
  c.momentum = 0.7;
  c.nesterov = true;
  c.weight_decay = 0.05;
  c.betas = {0.5, 0.6};
  c.eps = 1e-6;
  c.alpha = 0.2;
  c.beta = 0.8;
  c.sigma = 0.99;

  c.name = config::OptimizerKind::Sgd;
  auto sgd = make_optimizer(c, {p});
  ASSERT_NE(dynamic_cast<torch::optim::SGD*>(sgd.get()), nullptr);
  const auto& so = static_cast<torch::optim::SGDOptions&>(sgd->param_groups()[0].options());
  EXPECT_EQ(so.lr(), 0.2);
  EXPECT_EQ(so.momentum(), 0.7);
  EXPECT_EQ(so.weight_decay(), 0.05);
  EXPECT_TRUE(so.nesterov());

  c.name = config::OptimizerKind::Adam;
  auto adam = make_optimizer(c, {p});
  ASSERT_NE(dynamic_cast<torch::optim::Adam*>(adam.get()), nullptr);
  const auto& ao = static_cast<torch::optim::AdamOptions&>(adam->param_groups()[0].options());
  EXPECT_EQ(ao.lr(), 0.2);
  EXPECT_EQ(std::get<0>(ao.betas()), 0.5);
  EXPECT_EQ(std::get<1>(ao.betas()), 0.6);
  EXPECT_EQ(ao.eps(), 1e-6);
  EXPECT_EQ(ao.weight_decay(), 0.05);

  c.name = config::OptimizerKind::AdamW;
  auto adamw = make_optimizer(c, {p});
  ASSERT_NE(dynamic_cast<torch::optim::AdamW*>(adamw.get()), nullptr);
  const auto& wo = static_cast<torch::optim::AdamWOptions&>(adamw->param_groups()[0].options());
  EXPECT_EQ(wo.lr(), 0.2);
  EXPECT_EQ(std::get<0>(wo.betas()), 0.5);
  EXPECT_EQ(std::get<1>(wo.betas()), 0.6);
  EXPECT_EQ(wo.eps(), 1e-6);
  EXPECT_EQ(wo.weight_decay(), 0.05);

  c.name = config::OptimizerKind::INNAprop;
  c.lr = 0.3;  // INNAprop needs lr < beta
  auto inna = make_optimizer(c, {p});
  ASSERT_NE(dynamic_cast<INNAprop*>(inna.get()), nullptr);
  const auto& io = static_cast<INNApropOptions&>(inna->param_groups()[0].options());
  EXPECT_EQ(io.lr(), 0.3);
  EXPECT_EQ(io.alpha(), 0.2);
  EXPECT_EQ(io.beta(), 0.8);
  EXPECT_EQ(io.sigma(), 0.99);
  EXPECT_EQ(io.eps(), 1e-6);
  EXPECT_EQ(io.weight_decay(), 0.05);

  set_learning_rate(*adam, 0.125);
  EXPECT_DOUBLE_EQ(adam->param_groups()[0].options().get_lr(), 0.125);
}

TEST(Schedule, ConstantStepAndCosine) {
  config::ScheduleConfig s;
  s.name = config::ScheduleKind::Constant;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0.1, 57, 100), 0.1);
  s.name = config::ScheduleKind::Step;
  s.step_size = 30;
  s.gamma = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0.1, 29, 80), 0.1);
  EXPECT_NEAR(learning_rate_at(s, 0.1, 30, 80), 0.01, 1e-17);
  EXPECT_NEAR(learning_rate_at(s, 0.1, 79, 80), 0.001, 1e-17);
  s.name = config::ScheduleKind::Cosine;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0.1, 0, 200), 0.1);
  EXPECT_NEAR(learning_rate_at(s, 0.1, 100, 200), 0.05, 1e-15);
}

TEST(Schedule, CosineAgreesWithTorchsRecursiveCosineAnnealingLR) {
  // torch.optim.lr_scheduler.CosineAnnealingLR.get_lr with eta_min = 0, written out.
  config::ScheduleConfig s;
  s.name = config::ScheduleKind::Cosine;
  const int T = 10;
  const double base = 0.05;
  double lr = base;
  for (int e = 1; e < T; ++e) {
    if ((e - 1 - T) % (2 * T) == 0) {
      lr = lr + base * (1 - std::cos(M_PI / T)) / 2;
    } else {
      lr = (1 + std::cos(M_PI * e / T)) / (1 + std::cos(M_PI * (e - 1) / T)) * lr;
    }
    EXPECT_NEAR(learning_rate_at(s, base, e, T), lr, 1e-15) << "epoch " << e;
  }
}

}  // namespace
}  // namespace tiebreak::train
