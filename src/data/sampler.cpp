#include "tiebreak/data/sampler.h"

#include "tiebreak/data/error.h"

#include <ATen/CPUGeneratorImpl.h>

namespace tiebreak::data {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

at::Generator epoch_generator(uint64_t seed, int64_t epoch, uint64_t stream) {
  uint64_t mixed = splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(epoch)) ^ stream);
  return at::make_generator<at::CPUGeneratorImpl>(mixed);
}

int64_t shard_size(int64_t n, Shard shard, bool equal_shards) {
  TIEBREAK_DATA_CHECK(shard.world_size >= 1, "data shard: expected world_size >= 1, got ", shard.world_size);
  TIEBREAK_DATA_CHECK(shard.rank >= 0 && shard.rank < shard.world_size,
                      "data shard: expected 0 <= rank < world_size = ", shard.world_size, ", got rank ",
                      shard.rank);
  const int64_t base = n / shard.world_size;
  if (equal_shards) return base;
  // Strided over all n positions: the first n mod world_size ranks take one more.
  return base + (shard.rank < n % shard.world_size ? 1 : 0);
}

torch::Tensor shard_positions(int64_t n, Shard shard, bool equal_shards) {
  const int64_t count = shard_size(n, shard, equal_shards);
  return torch::arange(shard.rank, shard.rank + count * shard.world_size, shard.world_size,
                       torch::TensorOptions().dtype(torch::kLong));
}

torch::Tensor epoch_indices(int64_t n, bool shuffle, uint64_t seed, int64_t epoch, Shard shard,
                            bool equal_shards) {
  auto positions = shard_positions(n, shard, equal_shards);
  if (!shuffle) return positions;
  auto gen = epoch_generator(seed, epoch, 0);
  auto order = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong));
  return shard.world_size == 1 ? order.slice(0, 0, positions.numel()) : order.index_select(0, positions);
}

}  // namespace tiebreak::data
