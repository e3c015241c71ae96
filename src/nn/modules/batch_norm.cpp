#include "tiebreak/nn/modules/batch_norm.h"

#include <c10/util/Exception.h>
#include <torch/nn/functional/batchnorm.h>
#include <torch/nn/init.h>
#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace tiebreak::nn {

BatchNormImpl::BatchNormImpl(const torch::nn::BatchNormOptions& options_) : options(options_) { reset(); }

// As torch::nn::NormImplBase::reset, so that parameters, buffers and their order are BatchNorm's.
void BatchNormImpl::reset() {
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

void BatchNormImpl::reset_running_stats() {
  if (options.track_running_stats()) {
    running_mean.zero_();
    running_var.fill_(1);
    num_batches_tracked.zero_();
  }
}

void BatchNormImpl::reset_parameters() {
  reset_running_stats();
  if (options.affine()) {
    torch::nn::init::ones_(weight);
    torch::nn::init::zeros_(bias);
  }
}

void BatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "tiebreak::nn::BatchNorm(" << options.num_features()
         << ", eps=" << options.eps() << ", momentum=";
  if (options.momentum().has_value()) {
    stream << *options.momentum();
  } else {
    stream << "None";
  }
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats();
  if (reduction_) stream << ", synchronized over " << reduction_->describe();
  stream << ")";
}

torch::Tensor BatchNormImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() >= 2 && input.size(1) == options.num_features(), "BatchNorm(",
              options.num_features(), "): expected input [N, ", options.num_features(), ", ...], got ",
              input.sizes());
  // torch::nn::BatchNormImplBase::forward's factor: momentum, or the cumulative average when it is unset.
  double factor = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats() && num_batches_tracked.defined()) {
    num_batches_tracked += 1;
    factor = options.momentum().has_value() ? *options.momentum() : 1.0 / num_batches_tracked.item<double>();
  }
  if (is_training() && reduction_ && reduction_->replicas() > 1) return forward_reduced(input, factor);
  return torch::nn::functional::detail::batch_norm(input, running_mean, running_var, weight, bias,
                                                   is_training() || !options.track_running_stats(), factor,
                                                   options.eps());
}

torch::Tensor BatchNormImpl::forward_reduced(const torch::Tensor& input, double factor) {
  const int64_t channels = input.size(1);
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < input.dim(); ++d) dims.push_back(d);
  std::vector<int64_t> shape(input.dim(), 1);
  shape[1] = channels;
  // Statistics in at least fp32, as the native kernels keep them.
  const bool reduced = input.scalar_type() == torch::kHalf || input.scalar_type() == torch::kBFloat16;
  const auto x = reduced ? input.to(torch::kFloat) : input;
  // Two passes (mean, then the centred second moment), not E[x²] − E[x]², which cancels badly. The count
  // travels with the sums: replicas may hold batches of different sizes (the last one of an epoch).
  auto local =
      torch::cat({x.sum(dims), torch::full({1}, static_cast<double>(input.numel() / channels), x.options())});
  auto global = reduction_->sum(local);
  const auto count = global.slice(0, channels, channels + 1).detach();
  TORCH_CHECK(count.item<double>() > 1, "BatchNorm(", channels,
              "): expected more than 1 value per channel over all replicas when training, got ",
              count.item<double>(), " (", reduction_->describe(), ")");
  const auto mean = global.slice(0, 0, channels) / count;
  const auto centred = x - mean.view(shape);
  const auto var = reduction_->sum(centred.pow(2).sum(dims)) / count;
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

}  // namespace tiebreak::nn
