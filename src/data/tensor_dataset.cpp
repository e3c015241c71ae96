#include "tiebreak/data/tensor_dataset.h"

#include "tiebreak/data/error.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/data/transforms.h"

namespace tiebreak::data {

namespace {

// Stream 1 of (seed, epoch) holds the augmentation draws; stream 0 the order.
constexpr uint64_t kAugmentationStream = 1;

class TensorBatchStream : public BatchStream {
 public:
  TensorBatchStream(const ImageTensors& data, torch::Tensor indices, std::optional<CropFlipDraws> draws,
                    int64_t padding, const Normalization& normalization, torch::Dtype dtype,
                    int64_t batch_size, int64_t count)
      : data_(data),
        indices_(std::move(indices)),
        draws_(std::move(draws)),
        padding_(padding),
        dtype_(dtype),
        batch_size_(batch_size),
        count_(count) {
    if (data.images.scalar_type() == torch::kByte) normalizer_.emplace(normalization, data.images.device());
  }

  std::optional<Batch> next() override {
    if (position_ >= count_) return std::nullopt;
    const int64_t len = std::min(batch_size_, count_ - position_);
    auto idx = indices_.narrow(0, position_, len);
    auto images = data_.images.index_select(0, idx);
    if (draws_) {
      images = random_crop(images, padding_, draws_->offset_y.narrow(0, position_, len),
                           draws_->offset_x.narrow(0, position_, len));
      images = random_horizontal_flip(images, draws_->flip.narrow(0, position_, len));
    }
    // Floating images are already the network's inputs: only their dtype changes.
    Batch batch{normalizer_ ? (*normalizer_)(images, dtype_) : images.to(dtype_),
                data_.labels.index_select(0, idx)};
    position_ += len;
    return batch;
  }
  int64_t num_batches() const override { return (count_ + batch_size_ - 1) / batch_size_; }
  int64_t num_examples() const override { return count_; }

 private:
  ImageTensors data_;
  torch::Tensor indices_;
  std::optional<CropFlipDraws> draws_;
  int64_t padding_;
  std::optional<Normalizer> normalizer_;  // uint8 images only
  torch::Dtype dtype_;
  int64_t batch_size_;
  int64_t count_;
  int64_t position_ = 0;
};

void check_split(const std::string& name, Split split, const ImageTensors& t, int64_t num_classes) {
  const char* s = to_string(split);
  TIEBREAK_DATA_CHECK(t.images.defined() && t.images.dim() == 4 &&
                          (t.images.scalar_type() == torch::kByte || t.images.is_floating_point()),
                      name, " ", s, " images: expected uint8 or floating [N, C, H, W], got ",
                      t.images.defined() ? c10::str(t.images.scalar_type(), t.images.sizes()) : "undefined");
  TIEBREAK_DATA_CHECK(t.labels.defined() && t.labels.dim() == 1 && t.labels.scalar_type() == torch::kLong,
                      name, " ", s, " labels: expected int64 [N]");
  TIEBREAK_DATA_CHECK(t.images.size(0) == t.labels.size(0), name, " ", s, ": ", t.images.size(0),
                      " images but ", t.labels.size(0), " labels");
  TIEBREAK_DATA_CHECK(t.images.size(0) > 0, name, " ", s, ": expected at least one example, got none");
  if (t.labels.numel() > 0) {
    auto lo = t.labels.min().item<int64_t>(), hi = t.labels.max().item<int64_t>();
    TIEBREAK_DATA_CHECK(lo >= 0 && hi < num_classes, name, " ", s, " labels: expected 0..", num_classes - 1,
                        ", got ", lo, "..", hi);
  }
}

}  // namespace

TensorDataset::TensorDataset(DataOptions options, std::string name, ImageTensors train, ImageTensors test,
                             int64_t num_classes, Normalization normalization,
                             Augmentation train_augmentation)
    : Dataset(std::move(options)),
      name_(std::move(name)),
      num_classes_(num_classes),
      normalization_(std::move(normalization)),
      augmentation_(train_augmentation) {
  check_split(name_, Split::Train, train, num_classes_);
  check_split(name_, Split::Test, test, num_classes_);
  TIEBREAK_DATA_CHECK(train.images.sizes().slice(1) == test.images.sizes().slice(1), name_,
                      ": train and test images differ in shape: ", train.images.sizes(), " vs ",
                      test.images.sizes());
  TIEBREAK_DATA_CHECK(train.images.scalar_type() == test.images.scalar_type(), name_,
                      ": train and test images differ in dtype: ", train.images.scalar_type(), " vs ",
                      test.images.scalar_type());
  if (train.images.is_floating_point()) {
    TIEBREAK_DATA_CHECK(normalization_.mean.empty() && normalization_.std.empty(), name_,
                        ": floating images are delivered as they are, expected an empty normalization, got ",
                        normalization_.mean.size(), " channels");
  } else {
    TIEBREAK_DATA_CHECK(static_cast<int64_t>(normalization_.mean.size()) == train.images.size(1), name_,
                        ": normalization has ", normalization_.mean.size(), " channels, images have ",
                        train.images.size(1));
  }
  const auto device = options_.device();
  train_ = {train.images.to(device).contiguous(), train.labels.to(device).contiguous()};
  test_ = {test.images.to(device).contiguous(), test.labels.to(device).contiguous()};
}

ImageShape TensorDataset::image_shape() const {
  return {train_.images.size(1), train_.images.size(2), train_.images.size(3)};
}

int64_t TensorDataset::size(Split split) const { return tensors(split).images.size(0); }

std::string TensorDataset::generator() const {
  const Augmentation aug = train_augmentation();
  // Order (stream 0) and augmentation (stream 1) of epoch e come from epoch_generator(seed, e, stream).
  return options_.shuffle() || aug.crop_padding > 0 || aug.horizontal_flip
             ? "data::epoch_generator(run_seed, epoch)"
             : "none (unshuffled, no augmentation)";
}

Augmentation TensorDataset::train_augmentation() const {
  return options_.augment() ? augmentation_ : Augmentation{};
}

std::unique_ptr<BatchStream> TensorDataset::epoch(Split split, int64_t epoch, Shard shard) const {
  const bool train = split == Split::Train;
  const int64_t n = size(split);
  auto positions = shard_positions(n, shard, /*equal_shards=*/train);
  auto indices = epoch_indices(n, train && options_.shuffle(), options_.seed(), epoch, shard, train);
  // The stream stops after the limits and drop_last; the order and the draws are the whole epoch's.
  const int64_t count = num_examples(split, shard);
  const int64_t bs = batch_size(split);

  std::optional<CropFlipDraws> draws;
  const Augmentation aug = train ? train_augmentation() : Augmentation{};
  if (aug.crop_padding > 0 || aug.horizontal_flip) {
    // Drawn for the whole permutation, then gathered: an example's augmentation depends on
    // (seed, epoch, position) only, not on how the epoch is sharded.
    auto gen = epoch_generator(options_.seed(), epoch, kAugmentationStream);
    auto all = draw_crop_flip(n, aug.crop_padding, aug.horizontal_flip, gen);
    auto device = options_.device();
    draws = CropFlipDraws{all.offset_y.index_select(0, positions).to(device),
                          all.offset_x.index_select(0, positions).to(device),
                          all.flip.index_select(0, positions).to(device)};
  }
  return std::make_unique<TensorBatchStream>(tensors(split), indices.to(options_.device()), std::move(draws),
                                             aug.crop_padding, normalization_, options_.dtype(), bs, count);
}

}  // namespace tiebreak::data
