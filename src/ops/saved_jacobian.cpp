#include "tiebreak/ops/saved_jacobian.h"

#include "ops/autograd/saved_parameter.h"

#include <torch/csrc/autograd/function.h>

#include <unordered_set>

namespace tiebreak::ops {

SavedJacobians::SavedJacobians(const at::Tensor& root, JacobianParameter parameter) {
  if (!root.defined() || !root.grad_fn()) return;
  std::vector<std::shared_ptr<torch::autograd::Node>> stack{root.grad_fn()};
  std::unordered_set<const torch::autograd::Node*> seen{stack.back().get()};
  while (!stack.empty()) {
    auto node = std::move(stack.back());
    stack.pop_back();
    for (const auto& edge : node->next_edges())
      if (edge.function && seen.insert(edge.function.get()).second) stack.push_back(edge.function);
    const auto saved = parameter == JacobianParameter::MaxPoolBeta ? detail::max_pool2d_saved_beta(*node)
                                                                   : detail::relu_saved_alpha(*node);
    if (saved.value == nullptr) continue;
    if (saved.forward_dependent) {
      ++forward_dependent_;
    } else {
      switchable_.push_back({node, saved.value, saved.value->toDouble()});
    }
  }
}

void SavedJacobians::set(double value) {
  TORCH_CHECK(forward_dependent_ == 0, "SavedJacobians::set: ", forward_dependent_,
              " node(s) of the graph computed their forward from the parameter (max_pool2d's mixture ",
              "formulation, or a double backward): switching it afterwards would not give that choice's ",
              "gradient; repeat the forward instead");
  for (auto& s : switchable_) *s.value = value;
}

void SavedJacobians::restore() {
  for (auto& s : switchable_) *s.value = s.original;
}

}  // namespace tiebreak::ops
