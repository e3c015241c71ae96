#pragma once

#include "tiebreak/distributed/process_group.h"

#include <torch/types.h>

#include <memory>
#include <vector>

namespace c10d {
class Reducer;
}

namespace tiebreak::distributed {

/// Averages gradients over the ranks during the backward pass: PyTorch's own
/// DistributedDataParallel engine (c10d::Reducer) without the Python wrapper.
/// Parameters are grouped into buckets of about `bucket_bytes` in reverse
/// registration order (the order backward produces their gradients); each
/// bucket's all-reduce starts from an autograd hook as soon as all its
/// gradients exist, overlapping communication with the rest of the backward
/// pass. When backward() returns, every parameter's .grad holds the mean over
/// the ranks of their local gradients.
///
/// Every parameter must take part in every backward pass (no unused
/// parameters) and all ranks must call backward() equally often.
///
/// Example:
/// ```
/// GradientAllReducer reducer(model->parameters(), ctx, 25 << 20);
/// auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
/// reducer.prepare_for_backward();
/// loss.backward();  // gradients arrive averaged over the ranks
/// optimizer.step();
/// ```
class GradientAllReducer {
 public:
  /// `parameters` whose requires_grad is false are left alone.
  GradientAllReducer(const std::vector<torch::Tensor>& parameters, DistributedContext& context,
                     int64_t bucket_bytes);
  ~GradientAllReducer();
  GradientAllReducer(const GradientAllReducer&) = delete;
  GradientAllReducer& operator=(const GradientAllReducer&) = delete;

  /// Arms the hooks for the next backward pass; call once per training step
  /// after the forward pass. Backward passes not announced this way (e.g. a
  /// caller's own gradient computations) are not reduced.
  void prepare_for_backward();
  /// Buckets the parameters were grouped into.
  int64_t num_buckets() const { return num_buckets_; }

 private:
  DistributedContext& context_;
  std::shared_ptr<c10d::Reducer> reducer_;
  int64_t num_buckets_ = 0;
};

}  // namespace tiebreak::distributed
