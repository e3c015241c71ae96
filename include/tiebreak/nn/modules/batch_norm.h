#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>
#include <ostream>
#include <string>

namespace tiebreak::nn {

/// Where a BatchNorm's training statistics come from when one batch is split over replicas (the ranks of a
/// data-parallel run). A BatchNorm without one normalizes by its own batch; tiebreak::distributed's
/// `convert_sync_batch_norm` installs one that sums over a process group.
class BatchStatisticsReduction {
 public:
  virtual ~BatchStatisticsReduction() = default;
  /// How many replicas share the batch; with 1 the statistics stay local (BatchNorm exactly).
  virtual int64_t replicas() const = 0;
  /// `local` summed element-wise over the replicas, differentiably: its backward sums the incoming gradients
  /// over the replicas in turn, since every replica's loss depends on every replica's input (as
  /// torch.distributed.nn.functional.all_reduce).
  virtual torch::Tensor sum(const torch::Tensor& local) const = 0;
  /// Names the replicas in pretty_print and errors, e.g. "rank 0 of 2 (gloo)".
  virtual std::string describe() const = 0;
};

/// The one BatchNorm every tiebreak model builds, for [N, C] and [N, C, ...] inputs (BatchNorm1d and 2d).
/// Without a statistics reduction it is torch::nn::BatchNorm1d/2d bit for bit: the same
/// torch::nn::functional::batch_norm call, momentum (or the cumulative average when momentum is unset),
/// parameters `weight`, `bias` and buffers `running_mean`, `running_var`, `num_batches_tracked`, so
/// checkpoints move between the two. With one whose `replicas() > 1` (see
/// tiebreak::distributed::convert_sync_batch_norm, PyTorch's `SyncBatchNorm.convert_sync_batchnorm`), the
/// training-mode mean and variance are those of all replicas' examples together (two reductions forward,
/// two backward), so W ranks compute what one process with the whole batch would, up to summation order;
/// the running statistics take the global mean and unbiased variance. Evaluation mode never reduces.
///
/// Example:
/// ```
/// BatchNorm bn(torch::nn::BatchNormOptions(64));
/// auto y = bn(torch::randn({8, 64, 5, 5}));  // as torch::nn::BatchNorm2d(64)
/// ```
class BatchNormImpl : public torch::nn::Cloneable<BatchNormImpl> {
 public:
  explicit BatchNormImpl(int64_t num_features) : BatchNormImpl(torch::nn::BatchNormOptions(num_features)) {}
  explicit BatchNormImpl(const torch::nn::BatchNormOptions& options_);

  void reset() override;
  void reset_running_stats();
  void reset_parameters();
  /// e.g. `tiebreak::nn::BatchNorm(64, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)`,
  /// with `, synchronized over rank 0 of 2 (gloo)` once converted.
  void pretty_print(std::ostream& stream) const override;
  /// [N, C, ...] → the same shape. Errors when C != num_features or the input has fewer than 2 dimensions.
  torch::Tensor forward(const torch::Tensor& input);

  /// Installs (or, with null, removes) the reduction of the training statistics. Clones share it.
  void set_statistics_reduction(std::shared_ptr<const BatchStatisticsReduction> reduction) {
    reduction_ = std::move(reduction);
  }
  const std::shared_ptr<const BatchStatisticsReduction>& statistics_reduction() const { return reduction_; }

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  torch::Tensor forward_reduced(const torch::Tensor& input, double factor);

  std::shared_ptr<const BatchStatisticsReduction> reduction_;
};

/// A `ModuleHolder` for `BatchNormImpl`.
TORCH_MODULE(BatchNorm);

}  // namespace tiebreak::nn
