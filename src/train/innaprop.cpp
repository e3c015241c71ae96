#include "tiebreak/train/innaprop.h"

#include <torch/serialize/archive.h>

#include <cmath>

namespace tiebreak::train {

namespace {
void check_options(const INNApropOptions& o) {
  TORCH_CHECK(o.lr() > 0, "INNAprop: expected lr > 0, got ", o.lr());
  TORCH_CHECK(o.beta() > 0, "INNAprop: expected beta > 0, got ", o.beta());
  TORCH_CHECK(o.lr() < o.beta(), "INNAprop: expected lr < beta (the update divides by beta - lr), got lr ",
              o.lr(), " and beta ", o.beta());
  TORCH_CHECK(o.alpha() >= 0, "INNAprop: expected alpha >= 0, got ", o.alpha());
  TORCH_CHECK(o.sigma() >= 0 && o.sigma() < 1, "INNAprop: expected sigma in [0, 1), got ", o.sigma());
  TORCH_CHECK(o.eps() >= 0, "INNAprop: expected eps >= 0, got ", o.eps());
  TORCH_CHECK(o.weight_decay() >= 0, "INNAprop: expected weight_decay >= 0, got ", o.weight_decay());
}
}  // namespace

void INNApropOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(alpha);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(beta);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(sigma);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
}

void INNApropOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, alpha);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, beta);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, sigma);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
}

void INNApropParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(psi);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg_sq);
}

void INNApropParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, psi);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(torch::Tensor, exp_avg_sq);
}

INNAprop::INNAprop(const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
                   INNApropOptions defaults)
    : Optimizer(param_groups, std::make_unique<INNApropOptions>(defaults)) {
  check_options(defaults);
}

torch::Tensor INNAprop::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const INNApropOptions&>(group.options());
    check_options(o);
    const double lr = o.lr(), alpha = o.alpha(), beta = o.beta(), sigma = o.sigma();
    const double scalar1 = lr * (1 - alpha * beta) / (beta - lr);
    const double scalar2 = lr / (beta - lr);
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto& grad = p.grad();
      TORCH_CHECK(!grad.is_sparse(), "INNAprop: sparse gradients are not supported");
      auto key = p.unsafeGetTensorImpl();
      if (state_.find(key) == state_.end()) {
        auto s = std::make_unique<INNApropParamState>();
        s->psi((1 - alpha * beta) * p.detach().clone(at::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        state_[key] = std::move(s);
      }
      auto& s = static_cast<INNApropParamState&>(*state_[key]);
      s.step(s.step() + 1);
      p.mul_(1 - lr * o.weight_decay());
      auto& v = s.exp_avg_sq();
      v.mul_(sigma).addcmul_(grad, grad, 1 - sigma);
      const double bias_correction = 1 - std::pow(sigma, static_cast<double>(s.step()));
      auto denom = (v.sqrt() / std::sqrt(bias_correction)).add_(o.eps());
      auto& psi = s.psi();
      psi.mul_(1 - lr / beta).add_(p, lr * (1 / beta - alpha));
      p.mul_(1 + scalar1).sub_(psi, scalar2).addcdiv_(grad, denom, -lr * beta);
    }
  }
  return loss;
}

void INNAprop::save(torch::serialize::OutputArchive& archive) const { serialize(*this, archive); }

void INNAprop::load(torch::serialize::InputArchive& archive) { serialize(*this, archive); }

}  // namespace tiebreak::train
