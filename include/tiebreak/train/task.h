#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/data/dataset.h"
#include "tiebreak/nn/tie_counter.h"

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tiebreak::train {

/// One mini-batch: inputs [N, C, H, W] (float32, normalised) and int64 class targets [N].
struct Batch {
  torch::Tensor inputs;
  torch::Tensor targets;
};

/// What the trainer needs from a dataset: reproducible training batches per
/// epoch, a function of (run seed, epoch) alone — the same sequence whatever
/// happened before, which is what makes a resumed run equal an uninterrupted
/// one — and the test set in order. Seed and batch sizes are fixed when the
/// source is made (see DataRequest).
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t num_classes() const = 0;
  /// Shape of one input, e.g. {1, 28, 28}.
  virtual std::vector<int64_t> input_shape() const = 0;
  virtual int64_t train_size() const = 0;
  virtual int64_t test_size() const = 0;
  /// Calls `fn` for every training batch of epoch `epoch` (0-based), shuffled and
  /// augmented by a generator seeded from (seed, epoch) alone.
  virtual void for_each_train_batch(int64_t epoch, const std::function<void(const Batch&)>& fn) = 0;
  /// Calls `fn` for every test batch, in order, without augmentation.
  virtual void for_each_test_batch(const std::function<void(const Batch&)>& fn) = 0;
  /// e.g. "mnist (60000 train / 10000 test)".
  virtual std::string describe() const = 0;
  /// The part of every epoch this source delivers (data::Shard); a
  /// data-parallel run checks that its source honours the requested shard.
  virtual data::Shard shard() const { return {}; }
  /// The generator behind the batch order and augmentation, as run.json's seeds.shuffle records it,
  /// e.g. "data::epoch_generator(run_seed, epoch)".
  virtual std::string generator() const { return "not recorded (a custom BatchSource)"; }
};

/// A dataset held as four tensors in memory, for tests and embedders. Each epoch
/// visits the examples in the order the real datasets draw
/// (data::epoch_indices(n, true, seed, epoch, shard)); no augmentation.
/// With a `shard`, it delivers that rank's positions of every epoch (see
/// data::Shard); `batch_size` is then the per-rank batch.
///
/// Example:
/// ```
/// auto source = std::make_shared<TensorBatchSource>(x_train, y_train, x_test, y_test, 10, "blobs",
///                                                    /*seed=*/0, /*batch_size=*/32,
///                                                    /*test_batch_size=*/100);
/// ```
class TensorBatchSource : public BatchSource {
 public:
  TensorBatchSource(torch::Tensor train_inputs, torch::Tensor train_targets, torch::Tensor test_inputs,
                    torch::Tensor test_targets, int64_t num_classes, std::string name, uint64_t seed,
                    int64_t batch_size, int64_t test_batch_size, data::Shard shard = {});

  int64_t num_classes() const override { return num_classes_; }
  std::vector<int64_t> input_shape() const override;
  /// Examples of this shard per epoch.
  int64_t train_size() const override;
  int64_t test_size() const override;
  void for_each_train_batch(int64_t epoch, const std::function<void(const Batch&)>& fn) override;
  void for_each_test_batch(const std::function<void(const Batch&)>& fn) override;
  std::string describe() const override;
  data::Shard shard() const override { return shard_; }
  std::string generator() const override { return "data::epoch_generator(run_seed, epoch)"; }

 private:
  torch::Tensor train_inputs_, train_targets_, test_inputs_, test_targets_;
  int64_t num_classes_;
  std::string name_;
  uint64_t seed_;
  int64_t batch_size_, test_batch_size_;
  data::Shard shard_;
};

/// A pooling layer whose tie counter the trainer reads each epoch.
struct NamedTieCounter {
  /// The layer's name in the model, e.g. "features.2": the metrics column is "ties.features.2".
  std::string name;
  std::shared_ptr<nn::TieCounter> counter;
};

/// A built network: its module (parameters, buffers, train/eval mode), how to
/// call it, and its pooling layers' tie counters.
struct Model {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  std::vector<NamedTieCounter> tie_counters;
};

/// What the trainer asks of a dataset besides its config: the run's seed (batch
/// order and augmentation), where and in which dtype batches are wanted, and
/// which shard of every epoch this rank reads.
struct DataRequest {
  uint64_t seed = 0;
  c10::Device device = c10::kCPU;
  at::ScalarType dtype = at::kFloat;
  /// In a data-parallel run, this rank's part of each epoch; each of its
  /// training batches holds data.batch_size / shard.world_size examples.
  data::Shard shard;
  /// data.batch_size / shard.world_size.
  int64_t train_batch_size = 0;
};

/// How the trainer builds what a config names. The default builds the
/// registered models (tiebreak::models) and datasets (tiebreak::data); tests and
/// embedders may supply their own.
struct Components {
  std::function<std::shared_ptr<BatchSource>(const config::ExperimentConfig&, const DataRequest&)> make_data;
  /// Builds the network for `data` with weights drawn from `seed` (the run's seed).
  std::function<Model(const config::ExperimentConfig&, const BatchSource& data, uint64_t seed)> make_model;
};

/// tiebreak's models and datasets.
Components default_components();

}  // namespace tiebreak::train
