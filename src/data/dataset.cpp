#include "tiebreak/data/dataset.h"

#include "tiebreak/data/error.h"
#include "tiebreak/data/sampler.h"

#include <fmt/format.h>

#include <algorithm>

namespace tiebreak::data {

Dataset::Dataset(DataOptions options) : options_(std::move(options)) {
  TIEBREAK_DATA_CHECK(options_.train_batch_size() > 0 && options_.test_batch_size() > 0, options_.name(),
                      ": DataOptions train_batch_size, test_batch_size: expected positive batch sizes, got ",
                      options_.train_batch_size(), " and ", options_.test_batch_size());
  TIEBREAK_DATA_CHECK(options_.train_limit() >= 0 && options_.test_limit() >= 0, options_.name(),
                      ": DataOptions train_limit, test_limit: expected >= 0 (0: every example), got ",
                      options_.train_limit(), " and ", options_.test_limit());
}

std::string Dataset::generator() const { return "not recorded (a data::Dataset that does not say)"; }

int64_t Dataset::batch_size(Split split) const {
  return split == Split::Train ? options_.train_batch_size() : options_.test_batch_size();
}

int64_t Dataset::num_examples(Split split, Shard shard) const {
  const bool train = split == Split::Train;
  int64_t n = shard_size(size(split), shard, /*equal_shards=*/train);
  if (train && options_.train_limit() > 0) {
    // Rank r owns positions r, r + W, ...: the first `limit` positions of the epoch are the first limit / W
    // of every rank's (floor: every rank takes the same number of steps).
    n = std::min(n, options_.train_limit() / shard.world_size);
  } else if (!train && options_.test_limit() > 0) {
    // The first `limit` test positions, partitioned without loss: rank r owns ceil((limit - r) / W).
    n = std::min(n, std::max<int64_t>(
                        0, (options_.test_limit() - shard.rank + shard.world_size - 1) / shard.world_size));
  }
  if (train && options_.drop_last()) n = (n / options_.train_batch_size()) * options_.train_batch_size();
  return n;
}

int64_t Dataset::num_batches(Split split, Shard shard) const {
  const int64_t bs = batch_size(split);
  return (num_examples(split, shard) + bs - 1) / bs;
}

std::string Dataset::describe(Shard shard) const {
  return fmt::format("{} ({} train / {} test examples per epoch)", name(), num_examples(Split::Train, shard),
                     num_examples(Split::Test, shard));
}

}  // namespace tiebreak::data
