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
/// both on the dataset's device.
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
/// dataset that made it must outlive it.
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

/// An image-classification dataset with a training and a test split. Every
/// epoch's order and augmentation is a function of (options().seed(), epoch)
/// alone, so a resumed run sees exactly the batches it would have seen.
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
  explicit Dataset(DataOptions options) : options_(std::move(options)) {}
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

  /// options().train_batch_size() or test_batch_size().
  int64_t batch_size(Split split) const;
  /// Batches one epoch of `split` yields on `shard`.
  int64_t num_batches(Split split, Shard shard = {}) const;

 protected:
  DataOptions options_;
};

}  // namespace tiebreak::data
