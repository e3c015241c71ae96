#pragma once

#include "tiebreak/config/config.h"
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
/// (seed, epoch) — the same sequence whatever happened before, which is what
/// makes a resumed run equal an uninterrupted one — and the test set in order.
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
  virtual void for_each_train_batch(uint64_t seed, int64_t epoch, int64_t batch_size,
                                    const std::function<void(const Batch&)>& fn) = 0;
  /// Calls `fn` for every test batch, in order, without augmentation.
  virtual void for_each_test_batch(int64_t batch_size, const std::function<void(const Batch&)>& fn) = 0;
  /// e.g. "mnist (60000 train / 10000 test)".
  virtual std::string describe() const = 0;
};

/// A dataset held as four tensors in memory: the trainer's source for small
/// datasets and for tests. Shuffling uses a CPU generator seeded with
/// `shuffle_seed(seed, epoch)`; no augmentation.
///
/// Example:
/// ```
/// auto source = std::make_shared<TensorBatchSource>(x_train, y_train, x_test, y_test, 10);
/// ```
class TensorBatchSource : public BatchSource {
 public:
  TensorBatchSource(torch::Tensor train_inputs, torch::Tensor train_targets, torch::Tensor test_inputs,
                    torch::Tensor test_targets, int64_t num_classes, std::string name = "tensors");

  int64_t num_classes() const override { return num_classes_; }
  std::vector<int64_t> input_shape() const override;
  int64_t train_size() const override { return train_inputs_.size(0); }
  int64_t test_size() const override { return test_inputs_.size(0); }
  void for_each_train_batch(uint64_t seed, int64_t epoch, int64_t batch_size,
                            const std::function<void(const Batch&)>& fn) override;
  void for_each_test_batch(int64_t batch_size, const std::function<void(const Batch&)>& fn) override;
  std::string describe() const override;

 private:
  torch::Tensor train_inputs_, train_targets_, test_inputs_, test_targets_;
  int64_t num_classes_;
  std::string name_;
};

/// The generator seed of epoch `epoch` of a run seeded `seed` (a SplitMix64 mix,
/// so neighbouring seeds and epochs give unrelated permutations).
uint64_t shuffle_seed(uint64_t seed, int64_t epoch);

/// A pooling layer whose tie counter the trainer reads each epoch.
struct NamedTieCounter {
  /// The layer's name in the model, e.g. "features.2": the metrics column is "ties.features.2".
  std::string name;
  nn::TieCounter* counter = nullptr;
};

/// A built network: its module (parameters, buffers, train/eval mode), how to
/// call it, and its pooling layers' tie counters.
struct Model {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  std::vector<NamedTieCounter> tie_counters;
};

/// How the trainer builds what a config names. The default builds the
/// registered models (tiebreak::models) and datasets (tiebreak::data); tests and
/// embedders may supply their own.
struct Components {
  std::function<std::shared_ptr<BatchSource>(const config::ExperimentConfig&)> make_data;
  /// Called with the run's seed already applied to the global generator.
  std::function<Model(const config::ExperimentConfig&, const BatchSource&)> make_model;
};

/// tiebreak's models and datasets.
Components default_components();

}  // namespace tiebreak::train
