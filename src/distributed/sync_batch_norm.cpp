#include "tiebreak/distributed/sync_batch_norm.h"

#include "tiebreak/distributed/process_group.h"

#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>
#include <torch/torch.h>

namespace tiebreak::distributed {

namespace {

struct AllReduceSum : torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input) {
    auto sum = input.clone();
    DistributedContext::current()->all_reduce_sum({sum});
    return sum;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto grad = grads[0].contiguous().clone();
    DistributedContext::current()->all_reduce_sum({grad});
    return {grad};
  }
};

bool across_ranks() {
  const auto* ctx = DistributedContext::current();
  return ctx != nullptr && ctx->world_size() > 1;
}

}  // namespace

torch::Tensor differentiable_all_reduce_sum(const torch::Tensor& tensor) {
  if (DistributedContext::current() == nullptr) return tensor;
  return AllReduceSum::apply(tensor);
}

SyncBatchNormImpl::SyncBatchNormImpl(const torch::nn::BatchNormOptions& options_) : options(options_) {
  reset();
}

void SyncBatchNormImpl::reset() {
  if (options.affine()) {
    weight = register_parameter("weight", torch::empty({options.num_features()}));
    bias = register_parameter("bias", torch::empty({options.num_features()}));
  } else {
    weight = register_parameter("weight", torch::Tensor(), /*requires_grad=*/false);
    bias = register_parameter("bias", torch::Tensor(), /*requires_grad=*/false);
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({options.num_features()}));
    running_var = register_buffer("running_var", torch::ones({options.num_features()}));
    num_batches_tracked =
        register_buffer("num_batches_tracked", torch::tensor(0, torch::dtype(torch::kLong)));
  } else {
    running_mean = register_buffer("running_mean", torch::Tensor());
    running_var = register_buffer("running_var", torch::Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", torch::Tensor());
  }
  reset_parameters();
}

void SyncBatchNormImpl::reset_running_stats() {
  if (options.track_running_stats()) {
    running_mean.zero_();
    running_var.fill_(1);
    num_batches_tracked.zero_();
  }
}

void SyncBatchNormImpl::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    torch::NoGradGuard no_grad;
    weight.fill_(1);
    bias.zero_();
  }
}

void SyncBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "tiebreak::distributed::SyncBatchNorm(" << options.num_features() << ", eps=" << options.eps()
         << ", momentum=";
  if (options.momentum().has_value()) {
    stream << *options.momentum();
  } else {
    stream << "None";
  }
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats()
         << ")";
}

torch::Tensor SyncBatchNormImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 2 && input.size(1) == options.num_features(), "SyncBatchNorm(",
              options.num_features(), "): expected input [N, ", options.num_features(), ", ...], got ",
              input.sizes());
  // As torch::nn::BatchNorm: momentum, or a cumulative average when it is unset.
  double factor = 0.0;
  if (is_training() && options.track_running_stats()) {
    num_batches_tracked += 1;
    factor = options.momentum().has_value() ? *options.momentum() : 1.0 / num_batches_tracked.item<double>();
  }
  if (!is_training() || !across_ranks()) {
    return torch::batch_norm(input, weight, bias, running_mean, running_var,
                             is_training() || !options.track_running_stats(), factor, options.eps(),
                             at::globalContext().userEnabledCuDNN());
  }
  const int64_t channels = input.size(1);
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < input.dim(); ++d) dims.push_back(d);
  std::vector<int64_t> shape(input.dim(), 1);
  shape[1] = channels;
  // Statistics in at least fp32, as the native kernels keep them.
  const bool reduced = input.scalar_type() == torch::kHalf || input.scalar_type() == torch::kBFloat16;
  const auto x = reduced ? input.to(torch::kFloat) : input;
  // Two passes (mean, then the centred second moment), not E[x²] − E[x]², which cancels badly.
  auto local =
      torch::cat({x.sum(dims), torch::full({1}, static_cast<double>(input.numel() / channels), x.options())});
  auto global = differentiable_all_reduce_sum(local);
  const auto count = global.slice(0, channels, channels + 1).detach();
  const auto mean = global.slice(0, 0, channels) / count;
  const auto centred = x - mean.view(shape);
  const auto var = differentiable_all_reduce_sum(centred.pow(2).sum(dims)) / count;
  auto y = centred * torch::rsqrt(var + options.eps()).view(shape);
  if (options.affine()) y = y * weight.view(shape) + bias.view(shape);
  if (options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    const double n = count.item<double>();
    running_mean.mul_(1 - factor).add_(mean.detach().to(running_mean.scalar_type()), factor);
    running_var.mul_(1 - factor)
        .add_((var.detach() * (n / std::max(n - 1, 1.0))).to(running_var.scalar_type()), factor);
  }
  return y.to(input.scalar_type());
}

}  // namespace tiebreak::distributed
