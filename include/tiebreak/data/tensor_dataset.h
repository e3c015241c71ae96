#pragma once

#include "tiebreak/data/dataset.h"

#include <torch/types.h>

namespace tiebreak::data {

/// A decoded split: uint8 images [N, C, H, W] and int64 labels [N].
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

/// A dataset small enough to keep decoded: each split is one uint8 tensor on
/// the training device; a batch is one index_select plus a batched crop/flip
/// and one fused normalization, never a per-image loop. MNIST, Fashion-MNIST,
/// KMNIST, CIFAR-10/100, SVHN and synthetic are all TensorDatasets.
///
/// Example:
/// ```
/// TensorDataset ds(DataOptions("mine").train_batch_size(64), "mine", {train_x, train_y}, {test_x, test_y},
///                  10, half_normalization(1), Augmentation{});
/// auto stream = ds.epoch(Split::Train, 0);
/// ```
class TensorDataset : public Dataset {
 public:
  /// Validates shapes and dtypes and moves both splits to options.device().
  TensorDataset(DataOptions options, std::string name, ImageTensors train, ImageTensors test,
                int64_t num_classes, Normalization normalization, Augmentation train_augmentation);

  std::string name() const override { return name_; }
  int64_t num_classes() const override { return num_classes_; }
  ImageShape image_shape() const override;
  Normalization normalization() const override { return normalization_; }
  int64_t size(Split split) const override;
  std::unique_ptr<BatchStream> epoch(Split split, int64_t epoch, Shard shard = {}) const override;

  /// The decoded split (uint8 images, int64 labels) on the dataset's device.
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
