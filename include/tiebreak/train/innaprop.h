#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>

#include <vector>

namespace tiebreak::train {

/// Options of INNAprop (Bolte, Boustany, Pauwels, Purica 2024: "A second-order-like
/// optimizer with adaptive gradient scaling for deep learning"). Defaults are the
/// paper's: lr 1e-3, α 0.1, β 0.9, σ 0.999, ε 1e-8, decoupled weight decay 0.01.
///
/// Example:
/// ```
/// INNAprop opt(model->parameters(), INNApropOptions(1e-3).alpha(0.1).beta(0.9));
/// ```
struct INNApropOptions : public torch::optim::OptimizerCloneableOptions<INNApropOptions> {
  INNApropOptions(double lr = 1e-3) : lr_(lr) {}
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, alpha) = 0.1;
  TORCH_ARG(double, beta) = 0.9;
  TORCH_ARG(double, sigma) = 0.999;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0.01;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

/// Per-parameter state: the step count t, ψ (INNA's auxiliary variable) and v
/// (the running mean of squared gradients).
struct INNApropParamState : public torch::optim::OptimizerCloneableParamState<INNApropParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, psi);
  TORCH_ARG(torch::Tensor, exp_avg_sq);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

/// INNAprop: INNA's inertial Newton dynamics with RMSprop's gradient scaling.
/// With ψ₀ = (1 − αβ)θ₀, each step does, per parameter θ with gradient g:
///
///     θ ← θ(1 − lr·wd)
///     v ← σv + (1 − σ)g²;   d = √v / √(1 − σᵗ) + ε
///     ψ ← (1 − lr/β)ψ + lr(1/β − α)θ
///     θ ← (1 + lr(1 − αβ)/(β − lr))θ − lr/(β − lr)·ψ − lr·β·g/d
///
/// The update is undefined for lr ≥ β, which the constructor (and `step`, since
/// a schedule may change lr) reject.
///
/// Example:
/// ```
/// INNAprop opt(model->parameters(), INNApropOptions(1e-3));
/// loss.backward();
/// opt.step();
/// ```
class INNAprop : public torch::optim::Optimizer {
 public:
  explicit INNAprop(const std::vector<torch::optim::OptimizerParamGroup>& param_groups,
                    INNApropOptions defaults = {});
  explicit INNAprop(std::vector<torch::Tensor> params, INNApropOptions defaults = {})
      : INNAprop({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  template <typename Self, typename Archive>
  static void serialize(Self& self, Archive& archive) {
    torch::optim::serialize<INNApropParamState, INNApropOptions>(archive, self);
  }
};

}  // namespace tiebreak::train
