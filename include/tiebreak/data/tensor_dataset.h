#pragma once

#include "tiebreak/data/dataset.h"

#include <torch/types.h>

namespace tiebreak::data {

/// A decoded split: images [N, C, H, W] and int64 labels [N]. uint8 images are pixels (normalized per
/// batch by the dataset's Normalization); floating images are taken as already normalized inputs (a test's
/// or an embedder's features) and only cast to DataOptions::dtype.
struct ImageTensors {
  torch::Tensor images;
  torch::Tensor labels;
};

/// Training-split augmentation of an in-memory dataset (applied only when
/// DataOptions::augment is set): RandomCrop with `crop_padding` (0: none) and
/// a random horizontal flip.
struct Augmentation {
  int64_t crop_padding = 0;
  bool horizontal_flip = false;
};

/// A dataset small enough to keep decoded: each split is one tensor on
/// the training device; a batch is one index_select plus a batched crop/flip
/// and one fused normalization, never a per-image loop. MNIST, Fashion-MNIST,
/// KMNIST, CIFAR-10/100, SVHN and synthetic are all TensorDatasets, and so is
/// the data a test or an embedder gives the trainer (train::Components::make_data):
/// an epoch visits data::epoch_indices(n, shuffle, seed, epoch, shard) in
/// batches of the options' sizes, whatever the images' dtype.
///
/// Example:
/// ```
/// // uint8 pixels, normalized per batch:
/// TensorDataset ds(DataOptions("mine").train_batch_size(64), "mine", {train_x, train_y}, {test_x, test_y},
///                  10, half_normalization(1), Augmentation{});
/// // float features, delivered as they are (in options.dtype()):
/// TensorDataset blobs(DataOptions("blobs").seed(3).train_batch_size(32), "blobs", {x, y}, {x_test, y_test},
///                     3, Normalization{}, Augmentation{});
/// auto stream = ds.epoch(Split::Train, 0);
/// ```
class TensorDataset : public Dataset {
 public:
  /// Validates shapes and dtypes (uint8 or floating images, the same in both splits; a normalization with
  /// one entry per channel for uint8, an empty one for floating images; labels in 0..num_classes-1) and
  /// moves both splits to options.device(). Throws DataError naming `name` and what was expected.
  TensorDataset(DataOptions options, std::string name, ImageTensors train, ImageTensors test,
                int64_t num_classes, Normalization normalization, Augmentation train_augmentation);

  std::string name() const override { return name_; }
  int64_t num_classes() const override { return num_classes_; }
  ImageShape image_shape() const override;
  Normalization normalization() const override { return normalization_; }
  int64_t size(Split split) const override;
  std::unique_ptr<BatchStream> epoch(Split split, int64_t epoch, Shard shard = {}) const override;
  /// "data::epoch_generator(run_seed, epoch)" when the training split is shuffled or augmented, else
  /// "none (unshuffled, no augmentation)".
  std::string generator() const override;

  /// The decoded split (uint8 or floating images, int64 labels) on the dataset's device.
  const ImageTensors& tensors(Split split) const { return split == Split::Train ? train_ : test_; }
  /// The augmentation the training split gets (none when options().augment() is off).
  Augmentation train_augmentation() const;

 private:
  std::string name_;
  ImageTensors train_;
  ImageTensors test_;
  int64_t num_classes_;
  Normalization normalization_;
  Augmentation augmentation_;
};

}  // namespace tiebreak::data
