#pragma once
// Where the autograd nodes of tiebreak's operators keep their Jacobian parameter (private to src/ops/):
// each accessor lives beside its Function classes, in ops/autograd/<op>.cpp, and answers for the nodes of
// those classes only. ops/saved_jacobian.cpp walks a graph with them.

#include <ATen/core/ivalue.h>

namespace torch::autograd {
struct Node;
}  // namespace torch::autograd

namespace tiebreak::ops::detail {

struct SavedParameter {
  /// The value in the node's saved_data; null when the node is not one of the operator's.
  c10::IValue* value = nullptr;
  /// Whether the node's forward computation depends on the value (switching it afterwards is not exact).
  bool forward_dependent = false;
};

/// β of a MaxPool2dFunction node (forward-dependent under the mixture formulation) or of a
/// MaxPool2dBackwardFunction node (always: its forward is the β backward).
SavedParameter max_pool2d_saved_beta(torch::autograd::Node& node);

/// α of a ReLUFunction node, or of a ReLUBackwardFunction node (forward-dependent).
SavedParameter relu_saved_alpha(torch::autograd::Node& node);

}  // namespace tiebreak::ops::detail
