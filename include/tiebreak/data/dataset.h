#pragma once

#include "tiebreak/data/options.h"

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tiebreak::data {

/// Channels, height and width of one image as the batches deliver it.
struct ImageShape {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
};

/// Per-channel mean and standard deviation applied after scaling pixels to [0, 1]:
/// x ← (x/255 − mean[c]) / std[c].
struct Normalization {
  std::vector<double> mean;
  std::vector<double> std;
};

/// One batch: `images` normalized NCHW in the requested dtype, `labels` int64 [N],
/// both on the dataset's device. What the trainer, the zones experiments and the
/// benchmarks step on.
struct Batch {
  torch::Tensor images;
  torch::Tensor labels;
};

/// This process's part of an epoch in data-parallel training: rank `rank` of
/// `world_size` takes positions rank, rank + world_size, rank + 2 world_size, ...
/// of the epoch's permutation, as torch.utils.data.DistributedSampler does. So
/// batch k of every rank together are exactly batch k of a single process whose
/// batch is world_size times larger: the global batch does not depend on how
/// many ranks share it. The training split gives every rank floor(N / world_size)
/// examples (the permutation's last N mod world_size positions are skipped that
/// epoch, so all ranks take the same number of steps); the test split is
/// partitioned without loss.
struct Shard {
  int64_t rank = 0;
  int64_t world_size = 1;
};

/// One epoch of batches of one split, produced in order. Not thread-safe; the
/// dataset that made it must outlive it. Stopping before the end is allowed
/// (the stream's destructor releases what it holds).
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  /// The next batch, or nullopt after the last one.
  virtual std::optional<Batch> next() = 0;
  /// Batches this epoch yields in total.
  virtual int64_t num_batches() const = 0;
  /// Examples this epoch (this shard) yields in total.
  virtual int64_t num_examples() const = 0;
};

/// An image-classification dataset with a training and a test split, the one
/// data abstraction of tiebreak: the trainer, the zones experiments, the
/// benchmarks and an embedder's own data (a TensorDataset, or a subclass
/// through train::Components::make_data) all produce their batches here. Every
/// epoch's order and augmentation is a function of (options().seed(), epoch)
/// alone, so a resumed run sees exactly the batches it would have seen.
///
/// A subclass implements the virtual functions; its epoch(split, e, shard)
/// must yield exactly num_examples(split, shard) examples (the shard's
/// positions of epoch e's order, cut to the limits and drop_last of options())
/// in batches of batch_size(split): the trainer checks this every epoch.
///
/// Example:
/// ```
/// auto mnist = make_dataset("mnist", DataOptions().root("/data").device(torch::kCUDA));
/// for (int64_t epoch = 0; epoch < 10; ++epoch) {
///   auto stream = mnist->epoch(Split::Train, epoch);
///   while (auto batch = stream->next()) {
///     auto loss = torch::nll_loss(model->forward(batch->images), batch->labels);
///   }
/// }
/// ```
class Dataset {
 public:
  /// Checks what every dataset shares: positive batch sizes, limits >= 0 (a DataError naming the option).
  explicit Dataset(DataOptions options);
  virtual ~Dataset() = default;
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const DataOptions& options() const { return options_; }
  /// The registry name ("mnist", "cifar-10", ...).
  virtual std::string name() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual ImageShape image_shape() const = 0;
  virtual Normalization normalization() const = 0;
  /// Examples in a split (all ranks together).
  virtual int64_t size(Split split) const = 0;
  /// The batches of `split` for `epoch` (0-based), restricted to `shard`.
  virtual std::unique_ptr<BatchStream> epoch(Split split, int64_t epoch, Shard shard = {}) const = 0;

  /// The random stream behind the training split's order and augmentation, as run.json's
  /// seeds.shuffle records it: "data::epoch_generator(run_seed, epoch)" for tiebreak's datasets that
  /// shuffle or augment, "none (...)" for those that draw nothing, "not recorded (...)" by default (a
  /// subclass that does not say).
  virtual std::string generator() const;

  /// options().train_batch_size() or test_batch_size().
  int64_t batch_size(Split split) const;
  /// Examples one epoch of `split` yields on `shard`: the shard's part of the split (see Shard), cut to
  /// options().train_limit() / world_size (training) or to the shard's part of the first
  /// options().test_limit() examples (test), then, for training with drop_last, to whole batches.
  /// Throws DataError for a shard outside 0 <= rank < world_size.
  int64_t num_examples(Split split, Shard shard = {}) const;
  /// Batches one epoch of `split` yields on `shard`.
  int64_t num_batches(Split split, Shard shard = {}) const;
  /// e.g. "mnist (60000 train / 10000 test examples per epoch)": what `shard` reads per epoch.
  std::string describe(Shard shard = {}) const;

 protected:
  DataOptions options_;
};

}  // namespace tiebreak::data
