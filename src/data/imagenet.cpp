#include "tiebreak/data/imagenet.h"

#include "loading.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/image_decode.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/data/tensor_dataset.h"
#include "tiebreak/data/transforms.h"

#include <c10/util/ParallelGuard.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace tiebreak::data {

namespace fs = std::filesystem;

namespace {

/// The names an image folder's files go by (case-insensitive). Only a name's
/// extension selects files; their content decides how they decode.
bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpeg" || ext == ".jpg" || ext == ".png";
}

// Counter-based uniform draws: image `position` of (seed, epoch) gets its own stream, so
// the augmentation does not depend on which worker decodes it or when.
class PositionRng {
 public:
  PositionRng(uint64_t seed, int64_t epoch, int64_t position)
      : state_(mix(mix(mix(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(position))) {}
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int64_t integer(int64_t lo, int64_t hi_inclusive) {
    return lo + static_cast<int64_t>(uniform() * static_cast<double>(hi_inclusive - lo + 1));
  }

 private:
  static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  uint64_t next() { return state_ = mix(state_); }
  uint64_t state_;
};

// Bilinear, antialiased resize of a uint8 [3, H, W] image to [3, h, w] (as torchvision's
// Resize with antialias=True).
torch::Tensor resize(const torch::Tensor& image, int64_t h, int64_t w) {
  if (image.size(1) == h && image.size(2) == w) return image;
  auto x = image.unsqueeze(0).to(torch::kFloat32);
  auto y = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{h, w})
                                                     .mode(torch::kBilinear)
                                                     .align_corners(false)
                                                     .antialias(true));
  return y.squeeze(0).round().clamp(0, 255).to(torch::kByte);
}

// RandomResizedCrop(size, scale (0.08, 1), ratio (3/4, 4/3)) + horizontal flip with p = 0.5.
torch::Tensor train_transform(const torch::Tensor& image, int64_t size, PositionRng& rng) {
  const int64_t height = image.size(1), width = image.size(2);
  const double area = static_cast<double>(height * width);
  const double log_lo = std::log(3.0 / 4.0), log_hi = std::log(4.0 / 3.0);
  int64_t top = 0, left = 0, h = height, w = width;
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * rng.uniform(0.08, 1.0);
    const double ratio = std::exp(rng.uniform(log_lo, log_hi));
    const int64_t cw = std::llround(std::sqrt(target * ratio));
    const int64_t ch = std::llround(std::sqrt(target / ratio));
    if (cw > 0 && ch > 0 && cw <= width && ch <= height) {
      top = rng.integer(0, height - ch);
      left = rng.integer(0, width - cw);
      h = ch;
      w = cw;
      found = true;
    }
  }
  if (!found) {  // central crop at the nearest allowed aspect ratio
    const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
    if (in_ratio < 3.0 / 4.0) {
      w = width;
      h = std::llround(w / (3.0 / 4.0));
    } else if (in_ratio > 4.0 / 3.0) {
      h = height;
      w = std::llround(h * (4.0 / 3.0));
    }
    h = std::min(h, height);
    w = std::min(w, width);
    top = (height - h) / 2;
    left = (width - w) / 2;
  }
  auto out = resize(image.slice(1, top, top + h).slice(2, left, left + w), size, size);
  if (rng.uniform() < 0.5) out = out.flip({2});
  return out.contiguous();
}

// Resize(shorter side → resize_size) + CenterCrop(size).
torch::Tensor test_transform(const torch::Tensor& image, int64_t resize_size, int64_t size) {
  const int64_t height = image.size(1), width = image.size(2);
  int64_t h = resize_size, w = resize_size;
  if (height <= width) {
    w = static_cast<int64_t>(static_cast<double>(resize_size) * width / height);
  } else {
    h = static_cast<int64_t>(static_cast<double>(resize_size) * height / width);
  }
  auto resized = resize(image, h, w);
  if (h < size || w < size) resized = resize(resized, std::max(h, size), std::max(w, size));
  const int64_t top = std::llround((resized.size(1) - size) / 2.0);
  const int64_t left = std::llround((resized.size(2) - size) / 2.0);
  return resized.slice(1, top, top + size).slice(2, left, left + size).contiguous();
}

// A fixed pool of threads running tasks in submission order.
class ThreadPool {
 public:
  explicit ThreadPool(int64_t threads) {
    for (int64_t i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      tasks_.clear();
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  void submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
        if (stop_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

class ImageNetStream : public BatchStream {
 public:
  ImageNetStream(const ImageFolder& folder, torch::Tensor indices, torch::Tensor positions, bool train,
                 const DataOptions& options, int64_t epoch, int64_t count)
      : folder_(folder),
        indices_(std::move(indices)),
        positions_(std::move(positions)),
        train_(train),
        options_(options),
        epoch_(epoch),
        count_(count),
        batch_size_(train ? options.train_batch_size() : options.test_batch_size()),
        normalizer_(imagenet_normalization(), options.device()),
        pool_(std::max<int64_t>(1, options.num_workers())) {
    const int64_t ahead = std::max<int64_t>(1, options.prefetch());
    while (submitted_ < num_batches() && static_cast<int64_t>(in_flight_.size()) < ahead) submit();
  }

  std::optional<Batch> next() override {
    if (in_flight_.empty()) return std::nullopt;
    auto future = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (submitted_ < num_batches()) submit();
    ImageTensors cpu = future.get();
    auto device = options_.device();
    // Pinned batches (when training on CUDA) copy without stalling the stream.
    return Batch{normalizer_(cpu.images.to(device, /*non_blocking=*/true), options_.dtype()),
                 cpu.labels.to(device, /*non_blocking=*/true)};
  }
  int64_t num_batches() const override { return (count_ + batch_size_ - 1) / batch_size_; }
  int64_t num_examples() const override { return count_; }

 private:
  void submit() {
    const int64_t begin = submitted_ * batch_size_;
    const int64_t len = std::min(batch_size_, count_ - begin);
    auto task = std::make_shared<std::packaged_task<ImageTensors()>>(
        [this, begin, len] { return decode(begin, len); });
    in_flight_.push_back(task->get_future());
    pool_.submit([task] { (*task)(); });
    ++submitted_;
  }

  ImageTensors decode(int64_t begin, int64_t len) const {
    // The workers already run in parallel: keep ATen's kernels (resize) single-threaded here
    // instead of spawning a thread team per worker.
    c10::ParallelGuard serial(true);
    const int64_t size = options_.crop_size();
    const bool pin = options_.device().is_cuda();
    auto images =
        torch::empty({len, 3, size, size}, torch::TensorOptions().dtype(torch::kByte).pinned_memory(pin));
    auto labels = torch::empty({len}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(pin));
    const auto* idx = indices_.data_ptr<int64_t>();
    const auto* position = positions_.data_ptr<int64_t>();
    for (int64_t i = 0; i < len; ++i) {
      const int64_t example = idx[begin + i];
      const auto& path = folder_.files[example];
      auto image = read_image(path);
      if (train_) {
        PositionRng rng(options_.seed(), epoch_, position[begin + i]);
        images[i].copy_(train_transform(image, size, rng));
      } else {
        images[i].copy_(test_transform(image, options_.resize_size(), size));
      }
      labels[i] = folder_.labels[example];
    }
    return {images, labels};
  }

  const ImageFolder& folder_;
  torch::Tensor indices_;
  /// Each example's position in the epoch's permutation: its augmentation draws depend on
  /// (seed, epoch, position) only, not on how the epoch is sharded.
  torch::Tensor positions_;
  bool train_;
  DataOptions options_;
  int64_t epoch_;
  int64_t count_;
  int64_t batch_size_;
  Normalizer normalizer_;
  int64_t submitted_ = 0;
  std::deque<std::future<ImageTensors>> in_flight_;
  ThreadPool pool_;  // last: joined before the members its tasks read are destroyed
};

}  // namespace

ImageFolder scan_image_folder(const fs::path& dir, const std::vector<std::string>* classes) {
  TIEBREAK_DATA_CHECK(fs::is_directory(dir), dir.string(),
                      ": folder not found (expected <class>/*.JPEG inside)");
  ImageFolder folder;
  std::vector<fs::path> class_dirs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) class_dirs.push_back(entry.path());
  }
  std::sort(class_dirs.begin(), class_dirs.end());
  TIEBREAK_DATA_CHECK(!class_dirs.empty(), dir.string(),
                      ": no class folders (expected <wnid>/*.JPEG inside)");
  std::map<std::string, int64_t> class_index;
  if (classes != nullptr) {
    folder.classes = *classes;
    for (size_t i = 0; i < classes->size(); ++i) class_index[(*classes)[i]] = static_cast<int64_t>(i);
  } else {
    for (const auto& d : class_dirs) {
      class_index[d.filename().string()] = static_cast<int64_t>(folder.classes.size());
      folder.classes.push_back(d.filename().string());
    }
  }
  for (const auto& d : class_dirs) {
    auto it = class_index.find(d.filename().string());
    TIEBREAK_DATA_CHECK(it != class_index.end(), d.string(), ": class folder not among the training classes");
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(d)) {
      if (entry.is_regular_file() && is_image_name(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      folder.files.push_back(std::move(f));
      folder.labels.push_back(it->second);
    }
  }
  TIEBREAK_DATA_CHECK(!folder.files.empty(), dir.string(),
                      ": no image files (.JPEG, .jpg, .png) in its class folders");
  return folder;
}

ImageNetDataset::ImageNetDataset(DataOptions options) : Dataset(std::move(options)) {
  options_.name("imagenet");
  const fs::path dir = detail::dataset_folder(options_);
  TIEBREAK_DATA_CHECK(options_.crop_size() > 0 && options_.resize_size() > 0,
                      "imagenet: expected positive crop_size and resize_size");
  train_ = scan_image_folder(dir / "train");
  test_ = scan_image_folder(dir / "val", &train_.classes);
  spdlog::info("imagenet: {} training and {} validation images in {} classes from {}", train_.files.size(),
               test_.files.size(), train_.classes.size(), dir.string());
}

ImageShape ImageNetDataset::image_shape() const { return {3, options_.crop_size(), options_.crop_size()}; }

Normalization ImageNetDataset::normalization() const { return imagenet_normalization(); }

int64_t ImageNetDataset::size(Split split) const { return static_cast<int64_t>(folder(split).files.size()); }

std::unique_ptr<BatchStream> ImageNetDataset::epoch(Split split, int64_t epoch, Shard shard) const {
  const bool train = split == Split::Train;
  const int64_t n = size(split);
  auto positions = shard_positions(n, shard, train);
  auto indices =
      epoch_indices(n, train && options_.shuffle(), options_.seed(), epoch, shard, train).contiguous();
  // Only the first num_examples are decoded: the limits and drop_last cut the stream, not the order.
  return std::make_unique<ImageNetStream>(folder(split), indices, positions, train && options_.augment(),
                                          options_, epoch, num_examples(split, shard));
}

std::string ImageNetDataset::generator() const {
  return options_.shuffle() || options_.augment() ? "data::epoch_generator(run_seed, epoch)"
                                                  : "none (unshuffled, no augmentation)";
}

}  // namespace tiebreak::data
