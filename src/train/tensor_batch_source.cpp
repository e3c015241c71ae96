#include "tiebreak/train/task.h"

#include "tiebreak/data/sampler.h"

#include <fmt/format.h>
#include <torch/torch.h>

namespace tiebreak::train {

TensorBatchSource::TensorBatchSource(torch::Tensor train_inputs, torch::Tensor train_targets,
                                     torch::Tensor test_inputs, torch::Tensor test_targets,
                                     int64_t num_classes, std::string name, uint64_t seed, int64_t batch_size,
                                     int64_t test_batch_size, data::Shard shard)
    : train_inputs_(std::move(train_inputs)),
      train_targets_(std::move(train_targets)),
      test_inputs_(std::move(test_inputs)),
      test_targets_(std::move(test_targets)),
      num_classes_(num_classes),
      name_(std::move(name)),
      seed_(seed),
      batch_size_(batch_size),
      test_batch_size_(test_batch_size),
      shard_(shard) {
  TORCH_CHECK(batch_size_ > 0 && test_batch_size_ > 0,
              "TensorBatchSource: expected positive batch sizes, got ", batch_size_, " and ",
              test_batch_size_);
  TORCH_CHECK(train_inputs_.dim() >= 2 && train_inputs_.size(0) == train_targets_.size(0) &&
                  test_inputs_.size(0) == test_targets_.size(0),
              "TensorBatchSource: expected inputs [N, ...] with one target each, got train ",
              train_inputs_.sizes(), "/", train_targets_.sizes(), " and test ", test_inputs_.sizes(), "/",
              test_targets_.sizes());
  TORCH_CHECK(train_inputs_.size(0) > 0, "TensorBatchSource: expected a non-empty training set");
  TORCH_CHECK(num_classes_ >= 2, "TensorBatchSource: expected at least 2 classes, got ", num_classes_);
  train_targets_ = train_targets_.to(torch::kLong);
  test_targets_ = test_targets_.to(torch::kLong);
}

int64_t TensorBatchSource::train_size() const {
  return data::shard_size(train_inputs_.size(0), shard_, /*equal_shards=*/true);
}

int64_t TensorBatchSource::test_size() const {
  return data::shard_size(test_inputs_.size(0), shard_, /*equal_shards=*/false);
}

std::vector<int64_t> TensorBatchSource::input_shape() const {
  auto sizes = train_inputs_.sizes().vec();
  sizes.erase(sizes.begin());
  return sizes;
}

void TensorBatchSource::for_each_train_batch(int64_t epoch, const std::function<void(const Batch&)>& fn) {
  const int64_t batch_size = batch_size_;
  const auto order = data::epoch_indices(train_inputs_.size(0), /*shuffle=*/true, seed_, epoch, shard_,
                                         /*equal_shards=*/true);
  const int64_t n = order.size(0);
  for (int64_t start = 0; start < n; start += batch_size) {
    auto index = order.slice(0, start, std::min(start + batch_size, n));
    fn(Batch{train_inputs_.index_select(0, index), train_targets_.index_select(0, index)});
  }
}

void TensorBatchSource::for_each_test_batch(const std::function<void(const Batch&)>& fn) {
  const int64_t batch_size = test_batch_size_;
  if (shard_.world_size > 1) {
    auto positions = data::shard_positions(test_inputs_.size(0), shard_, /*equal_shards=*/false);
    for (int64_t start = 0; start < positions.size(0); start += batch_size) {
      auto index = positions.slice(0, start, std::min(start + batch_size, positions.size(0)));
      fn(Batch{test_inputs_.index_select(0, index), test_targets_.index_select(0, index)});
    }
    return;
  }
  for (int64_t start = 0; start < test_size(); start += batch_size) {
    const int64_t end = std::min(start + batch_size, test_size());
    fn(Batch{test_inputs_.slice(0, start, end), test_targets_.slice(0, start, end)});
  }
}

std::string TensorBatchSource::describe() const {
  return fmt::format("{} ({} train / {} test)", name_, train_size(), test_size());
}

}  // namespace tiebreak::train
