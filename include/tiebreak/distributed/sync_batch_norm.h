#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>

namespace tiebreak::distributed {

class DistributedContext;

/// `tensor` summed over the ranks of `ctx`, differentiably: the backward pass sums the incoming gradients
/// over the ranks in turn (every rank's loss depends on every rank's input), as
/// torch.distributed.nn.functional.all_reduce.
torch::Tensor differentiable_all_reduce_sum(const torch::Tensor& tensor, DistributedContext& ctx);

/// Synchronizes every BatchNorm of a built model over the ranks of `ctx`, in place: each
/// tiebreak::nn::BatchNorm in `module` (itself included) gets the statistics reduction that sums over the
/// process group, so in training mode its mean and variance are those of the global batch (see
/// nn::BatchNormImpl); evaluation mode and a world of one rank are unchanged. As PyTorch's
/// `torch.nn.SyncBatchNorm.convert_sync_batchnorm(module, process_group)`, the models know nothing of
/// distribution: parameters, buffers and their names stay as they are, so checkpoints are the same with or
/// without conversion. The reductions keep `ctx` alive. Returns how many layers were converted.
///
/// Throws (c10::Error naming the module) when `module` holds a torch::nn::BatchNorm1d/2d/3d, whose
/// statistics cannot be synchronized in place: build such models with tiebreak::nn::BatchNorm.
///
/// Example:
/// ```
/// auto model = models::make_model(models::ModelOptions("resnet18").batch_norm(true));
/// convert_sync_batch_norm(*model.ptr(), ctx);  // ctx: a std::shared_ptr<DistributedContext>
/// ```
int64_t convert_sync_batch_norm(torch::nn::Module& module, std::shared_ptr<DistributedContext> ctx);

}  // namespace tiebreak::distributed
