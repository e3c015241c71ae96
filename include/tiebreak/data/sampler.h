#pragma once

#include "tiebreak/data/dataset.h"

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>

namespace tiebreak::data {

/// SplitMix64's finalizer (Steele, Lea & Flood 2014): a bijection of 64-bit integers whose outputs for
/// neighbouring inputs are unrelated. tiebreak's one seed mixer: epoch streams and run seeds.
uint64_t splitmix64(uint64_t x);

/// A CPU generator seeded from (seed, epoch, stream) through SplitMix64, so
/// that every epoch (and each independent use within it, e.g. order vs.
/// augmentation) draws from its own stream and never from the global RNG.
at::Generator epoch_generator(uint64_t seed, int64_t epoch, uint64_t stream = 0);

/// The example indices (int64, CPU) one shard visits in one epoch: a
/// permutation drawn from epoch_generator(seed, epoch) when `shuffle`, else
/// 0..n-1; then this shard's slice (see `Shard`). The same (seed, epoch) gives
/// every rank a slice of the same permutation, so the slices are disjoint.
torch::Tensor epoch_indices(int64_t n, bool shuffle, uint64_t seed, int64_t epoch, Shard shard,
                            bool equal_shards);

/// Validates `shard` (0 <= rank < world_size) and returns how many positions of
/// an n-example epoch it owns. With `equal_shards` every rank gets
/// floor(n / world_size); otherwise the n positions are split without loss.
int64_t shard_size(int64_t n, Shard shard, bool equal_shards);

/// The positions (int64, CPU, ascending) of an n-example epoch's permutation
/// that `shard` owns: rank, rank + world_size, ... (shard_size of them).
torch::Tensor shard_positions(int64_t n, Shard shard, bool equal_shards);

}  // namespace tiebreak::data
