#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <cstddef>
#include <memory>
#include <vector>

namespace torch::autograd {
struct Node;
}  // namespace torch::autograd

namespace tiebreak::ops {

/// A parameter of a nonsmooth operator's Jacobian that its autograd node saves in the forward and its
/// backward reads: max_pool2d's β, relu's α (ReLU'(0)).
enum class JacobianParameter { MaxPoolBeta, ReluAlpha };

/// The nodes of a recorded autograd graph whose backward reads `parameter`, to run a second backward
/// through the same graph (kept with retain_graph) under another Jacobian choice instead of repeating the
/// forward. Exact where the operator's forward does not depend on the parameter: relu, and max_pool2d with
/// formulation "pure" (its forward is native max_pool2d for every β); the mixture's forward and the
/// double-backward nodes depend on β, so they are counted in `forward_dependent()` and `set` refuses
/// while there is one. Only the graph's own nodes change: the modules' options stay as they are.
///
/// Example:
/// ```
/// auto loss = net->forward(x).sum();         // pools at β = 0, pure
/// loss.backward({}, /*retain_graph=*/true);  // the β = 0 gradient
/// SavedJacobians saved(loss, JacobianParameter::MaxPoolBeta);
/// saved.set(1.0);
/// loss.backward();  // the gradient a forward and backward at β = 1 gives, bit for bit
/// saved.restore();
/// ```
class SavedJacobians {
 public:
  /// The nodes reachable from `root`'s grad_fn (none when `root` has no graph).
  SavedJacobians(const at::Tensor& root, JacobianParameter parameter);

  /// How many nodes save the parameter and can be switched.
  size_t size() const { return switchable_.size(); }
  /// How many nodes save the parameter in a forward that depends on it.
  size_t forward_dependent() const { return forward_dependent_; }

  /// Sets `value` in every switchable node. Errors when a node's forward depends on the parameter.
  void set(double value);
  /// Puts back the values the nodes held when this was built.
  void restore();

 private:
  struct Saved {
    std::shared_ptr<torch::autograd::Node> node;
    c10::IValue* value;
    double original;
  };
  std::vector<Saved> switchable_;
  size_t forward_dependent_ = 0;
};

}  // namespace tiebreak::ops
