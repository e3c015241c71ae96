#include "tiebreak/distributed/gradient_reducer.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <algorithm>

namespace tiebreak::distributed {

namespace {
/// PyTorch DDP's first bucket (1 MiB): small, so that the first all-reduce starts early in backward.
constexpr int64_t kFirstBucketBytes = int64_t{1} << 20;
}  // namespace

GradientAllReducer::GradientAllReducer(const std::vector<torch::Tensor>& parameters,
                                       DistributedContext& context, int64_t bucket_bytes)
    : context_(context) {
  TORCH_CHECK(bucket_bytes > 0, "exp.distributed.bucket_mb: expected a positive bucket size, got ",
              bucket_bytes, " bytes");
  std::vector<at::Tensor> trained;
  trained.reserve(parameters.size());
  for (const auto& p : parameters) {
    if (p.requires_grad()) trained.push_back(p);
  }
  TORCH_CHECK(!trained.empty(), "GradientAllReducer: the model has no trainable parameters");
  const size_t num_trained = trained.size();
  // As DistributedDataParallel does: assign buckets in parameter order, then
  // reverse them, since backward produces the last layers' gradients first.
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      trained, {static_cast<size_t>(kFirstBucketBytes), static_cast<size_t>(bucket_bytes)},
      std::vector<bool>(trained.size(), false));
  std::reverse(buckets.begin(), buckets.end());
  std::vector<int64_t> bucket_limits(limits.rbegin(), limits.rend());
  num_buckets_ = static_cast<int64_t>(buckets.size());
  std::unordered_map<size_t, std::string> names;
  reducer_ = std::make_shared<c10d::Reducer>(std::move(trained), std::move(buckets), context.process_group(),
                                             std::vector<bool>(num_trained, false), bucket_bytes,
                                             /*find_unused_parameters=*/false,
                                             /*gradient_as_bucket_view=*/false, std::move(names),
                                             kFirstBucketBytes, /*skip_all_reduce_unused_params=*/false,
                                             /*use_python_reducer=*/false, std::move(bucket_limits));
}

GradientAllReducer::~GradientAllReducer() = default;

void GradientAllReducer::prepare_for_backward() {
  reducer_->prepare_for_forward();
  reducer_->prepare_for_backward({});
}

}  // namespace tiebreak::distributed
