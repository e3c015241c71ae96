#include "tiebreak/data/sampler.h"

#include "tiebreak/data/error.h"

#include <ATen/CPUGeneratorImpl.h>

namespace tiebreak::data {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

at::Generator epoch_generator(uint64_t seed, int64_t epoch, uint64_t stream) {
  uint64_t mixed = splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(epoch)) ^ stream);
  return at::make_generator<at::CPUGeneratorImpl>(mixed);
}

std::pair<int64_t, int64_t> shard_range(int64_t n, Shard shard, bool equal_shards) {
  TIEBREAK_DATA_CHECK(shard.world_size >= 1, "data shard: expected world_size >= 1, got ", shard.world_size);
  TIEBREAK_DATA_CHECK(shard.rank >= 0 && shard.rank < shard.world_size,
                      "data shard: expected 0 <= rank < world_size = ", shard.world_size, ", got rank ",
                      shard.rank);
  if (equal_shards) {
    const int64_t per_rank = n / shard.world_size;
    return {shard.rank * per_rank, (shard.rank + 1) * per_rank};
  }
  // Balanced partition of all n positions: the first n mod world ranks take one more.
  const int64_t base = n / shard.world_size;
  const int64_t extra = n % shard.world_size;
  const int64_t begin = shard.rank * base + std::min(shard.rank, extra);
  return {begin, begin + base + (shard.rank < extra ? 1 : 0)};
}

torch::Tensor epoch_indices(int64_t n, bool shuffle, uint64_t seed, int64_t epoch, Shard shard,
                            bool equal_shards) {
  auto [begin, end] = shard_range(n, shard, equal_shards);
  torch::Tensor order;
  if (shuffle) {
    auto gen = epoch_generator(seed, epoch, 0);
    order = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong));
  } else {
    order = torch::arange(n, torch::TensorOptions().dtype(torch::kLong));
  }
  return order.slice(0, begin, end);
}

}  // namespace tiebreak::data
