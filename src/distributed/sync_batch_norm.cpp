#include "tiebreak/distributed/sync_batch_norm.h"

#include "tiebreak/distributed/process_group.h"
#include "tiebreak/nn/modules/batch_norm.h"

#include <c10/util/Exception.h>
#include <torch/autograd.h>
#include <torch/nn/modules/batchnorm.h>

namespace tiebreak::distributed {

namespace {

struct AllReduceSum : torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* autograd, const torch::Tensor& input,
                               DistributedContext* ctx) {
    autograd->saved_data["ctx"] = reinterpret_cast<int64_t>(ctx);
    auto sum = input.clone();
    ctx->all_reduce_sum({sum});
    return sum;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* autograd,
                                                 torch::autograd::variable_list grads) {
    auto* ctx = reinterpret_cast<DistributedContext*>(autograd->saved_data["ctx"].toInt());
    auto grad = grads[0].contiguous().clone();
    ctx->all_reduce_sum({grad});
    return {grad, torch::Tensor()};
  }
};

/// The statistics reduction convert_sync_batch_norm installs: sums over the ranks of one context.
class ProcessGroupReduction final : public nn::BatchStatisticsReduction {
 public:
  explicit ProcessGroupReduction(std::shared_ptr<DistributedContext> ctx) : ctx_(std::move(ctx)) {}
  int64_t replicas() const override { return ctx_->world_size(); }
  torch::Tensor sum(const torch::Tensor& local) const override {
    return differentiable_all_reduce_sum(local, *ctx_);
  }
  std::string describe() const override { return ctx_->describe(); }

 private:
  std::shared_ptr<DistributedContext> ctx_;
};

bool is_torch_batch_norm(const torch::nn::Module& module) {
  return dynamic_cast<const torch::nn::BatchNorm1dImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::BatchNorm2dImpl*>(&module) != nullptr ||
         dynamic_cast<const torch::nn::BatchNorm3dImpl*>(&module) != nullptr;
}

}  // namespace

torch::Tensor differentiable_all_reduce_sum(const torch::Tensor& tensor, DistributedContext& ctx) {
  return AllReduceSum::apply(tensor, &ctx);
}

int64_t convert_sync_batch_norm(torch::nn::Module& module, std::shared_ptr<DistributedContext> ctx) {
  TORCH_CHECK(ctx != nullptr, "convert_sync_batch_norm: expected a distributed context, got none");
  const auto reduction = std::make_shared<const ProcessGroupReduction>(std::move(ctx));
  int64_t converted = 0;
  auto convert = [&](const std::string& name, torch::nn::Module& m) {
    if (auto* bn = dynamic_cast<nn::BatchNormImpl*>(&m)) {
      bn->set_statistics_reduction(reduction);
      ++converted;
      return;
    }
    TORCH_CHECK(!is_torch_batch_norm(m), "convert_sync_batch_norm: module \"", name, "\" is a ", m.name(),
                ", whose statistics cannot be synchronized in place; build the model with "
                "tiebreak::nn::BatchNorm");
  };
  // The module itself through the reference: it need not be owned by a shared_ptr.
  convert("", module);
  for (const auto& item : module.named_modules("", /*include_self=*/false))
    convert(item.key(), *item.value());
  return converted;
}

}  // namespace tiebreak::distributed
