#pragma once

#include "tiebreak/data/dataset.h"
#include "tiebreak/data/image_decode.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace tiebreak::data {

/// The files of an ImageNet-style folder split: `dir/<class>/*.{JPEG,jpg,jpeg,png}` (any case),
/// decoded by content (image_decode.h): a PNG under a .JPEG name is read as the PNG it is.
struct ImageFolder {
  std::vector<std::string> classes;          ///< sorted class folder names (WordNet ids)
  std::vector<std::filesystem::path> files;  ///< sorted by class, then name
  std::vector<int64_t> labels;               ///< index into `classes`
};
/// Scans `dir`. With `classes` given (the training split's), a folder not in it is a DataError.
ImageFolder scan_image_folder(const std::filesystem::path& dir,
                              const std::vector<std::string>* classes = nullptr);

/// ILSVRC-2012 in the `train/<wnid>/*.JPEG`, `val/<wnid>/*.JPEG` layout, decoded (decode_image: JPEG in
/// any colour space, PNG, converted to RGB as PIL does) on the fly by
/// options.num_workers() threads with at most options.prefetch() batches decoded ahead.
/// Training: RandomResizedCrop(crop_size, scale (0.08, 1), ratio (3/4, 4/3)) + horizontal flip,
/// each image's draws a function of (seed, epoch, position); test: Resize(resize_size) +
/// CenterCrop(crop_size). ImageNet mean/std.
///
/// Example:
/// ```
/// ImageNetDataset imagenet(DataOptions("imagenet").root("/data").num_workers(8).device(torch::kCUDA));
/// auto stream = imagenet.epoch(Split::Train, 0);
/// while (auto batch = stream->next()) { /* batch->images: [256, 3, 224, 224] */ }
/// ```
class ImageNetDataset : public Dataset {
 public:
  explicit ImageNetDataset(DataOptions options);

  std::string name() const override { return "imagenet"; }
  int64_t num_classes() const override { return static_cast<int64_t>(train_.classes.size()); }
  ImageShape image_shape() const override;
  Normalization normalization() const override;
  int64_t size(Split split) const override;
  std::unique_ptr<BatchStream> epoch(Split split, int64_t epoch, Shard shard = {}) const override;
  /// "data::epoch_generator(run_seed, epoch)" when the training split is shuffled or augmented, else
  /// "none (unshuffled, no augmentation)".
  std::string generator() const override;

  const ImageFolder& folder(Split split) const { return split == Split::Train ? train_ : test_; }

 private:
  ImageFolder train_;
  ImageFolder test_;
};

}  // namespace tiebreak::data
