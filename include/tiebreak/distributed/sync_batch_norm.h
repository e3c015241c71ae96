#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <ostream>

namespace tiebreak::distributed {

/// `tensor` summed over the ranks of DistributedContext::current(), differentiably:
/// the backward pass sums the incoming gradients over the ranks in turn (every rank's
/// loss depends on every rank's input), as torch.distributed.nn.functional.all_reduce.
/// Without a current context (one process) it returns `tensor` unchanged.
torch::Tensor differentiable_all_reduce_sum(const torch::Tensor& tensor);

/// BatchNorm over the global batch of a data-parallel run: in training mode the
/// per-channel mean and variance are those of all ranks' examples together (two
/// all-reduces forward, two backward), so W ranks compute what one process with
/// the whole batch would, up to summation order. Running statistics are updated
/// with the global mean and unbiased variance. In evaluation mode, or without a
/// DistributedContext, it is exactly torch::nn::BatchNorm{1,2}d. Parameters and
/// buffers have BatchNorm's names, so checkpoints move between the two. Works on
/// [N, C] and [N, C, ...] inputs. (PyTorch's torch.nn.SyncBatchNorm is Python-only.)
///
/// Example:
/// ```
/// auto bn = SyncBatchNorm(torch::nn::BatchNormOptions(64));
/// auto y = bn(x);  // x [N, 64, H, W] on every rank
/// ```
class SyncBatchNormImpl : public torch::nn::Cloneable<SyncBatchNormImpl> {
 public:
  explicit SyncBatchNormImpl(int64_t num_features)
      : SyncBatchNormImpl(torch::nn::BatchNormOptions(num_features)) {}
  explicit SyncBatchNormImpl(const torch::nn::BatchNormOptions& options_);

  void reset() override;
  void reset_running_stats();
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& input);

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};

TORCH_MODULE(SyncBatchNorm);

}  // namespace tiebreak::distributed
