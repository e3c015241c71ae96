#include "tiebreak/data/dataset.h"

#include "tiebreak/data/sampler.h"

namespace tiebreak::data {

int64_t Dataset::batch_size(Split split) const {
  return split == Split::Train ? options_.train_batch_size() : options_.test_batch_size();
}

int64_t Dataset::num_batches(Split split, Shard shard) const {
  const bool train = split == Split::Train;
  const int64_t n = shard_size(size(split), shard, /*equal_shards=*/train);
  const int64_t bs = batch_size(split);
  if (train && options_.drop_last()) return n / bs;
  return (n + bs - 1) / bs;
}

}  // namespace tiebreak::data
