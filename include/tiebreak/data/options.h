#pragma once

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tiebreak::data {

/// The two splits every dataset has. SVHN's `extra` set joins the training
/// split when `DataOptions::svhn_extra` is set.
enum class Split { Train, Test };

/// "train" or "test".
const char* to_string(Split split);

/// Everything that selects and shapes a dataset's batches. Defaults follow the
/// study: training batches of 128, shuffled every epoch and augmented where the
/// dataset has augmentation (CIFAR: random crop with padding 4 and horizontal
/// flip); test batches of 100 in file order.
///
/// Example:
/// ```
/// auto cifar = make_dataset("cifar-10", DataOptions("cifar-10").root("/data").seed(7).device(torch::kCUDA)
///                                           .train_files({"data_batch_1.bin"}));
/// ```
struct DataOptions {
  DataOptions() = default;
  explicit DataOptions(std::string name) : name_(std::move(name)) {}

  /// Registry name: mnist, fashion-mnist, kmnist, cifar-10, cifar-100, svhn, imagenet, synthetic.
  TORCH_ARG(std::string, name) = "mnist";
  /// Data root holding one folder per dataset; empty: `$TIEBREAK_DATA`, else `./data`.
  TORCH_ARG(std::string, root) = "";
  TORCH_ARG(int64_t, train_batch_size) = 128;
  TORCH_ARG(int64_t, test_batch_size) = 100;
  /// Shuffle the training split every epoch (the test split is never shuffled).
  TORCH_ARG(bool, shuffle) = true;
  /// Training-split augmentation (each dataset defines its own; none for the MNIST family and SVHN).
  TORCH_ARG(bool, augment) = true;
  /// Drop the last, smaller training batch.
  TORCH_ARG(bool, drop_last) = false;
  /// Use only the first `train_limit` positions of every epoch's training order (0: all), counted over all
  /// ranks together: each of W ranks takes train_limit / W of them (every rank the same number of steps).
  /// A shuffled epoch thus trains on another random subset each time. For smoke runs and quick sweeps.
  TORCH_ARG(int64_t, train_limit) = 0;
  /// Use only the first `test_limit` test examples in file order (0: all), all ranks together,
  /// partitioned over the ranks without loss.
  TORCH_ARG(int64_t, test_limit) = 0;
  /// Together with the epoch, the only source of batch order and augmentation.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Where the decoded dataset lives and batches are produced (CUDA when training there).
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Floating type of the normalized images.
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;
  /// Override the files of a split, relative to the dataset folder or absolute, gzipped or raw.
  /// IDX datasets take {images, labels}; CIFAR any number of record files; SVHN .mat files.
  TORCH_ARG(std::vector<std::string>, train_files) = {};
  TORCH_ARG(std::vector<std::string>, test_files) = {};
  /// Compare the SHA-256 of known original files with their published value while loading.
  TORCH_ARG(bool, verify_checksums) = true;
  /// SVHN: append extra_32x32.mat to the training split.
  TORCH_ARG(bool, svhn_extra) = false;
  /// ImageNet: JPEG decoding threads and batches decoded ahead of the consumer.
  TORCH_ARG(int64_t, num_workers) = 4;
  TORCH_ARG(int64_t, prefetch) = 4;
  /// ImageNet: output side (RandomResizedCrop / CenterCrop) and the test-time resize of the shorter side.
  TORCH_ARG(int64_t, crop_size) = 224;
  TORCH_ARG(int64_t, resize_size) = 256;
  /// synthetic: examples per split, classes and image shape {C, H, W}.
  TORCH_ARG(int64_t, synthetic_train_size) = 10000;
  TORCH_ARG(int64_t, synthetic_test_size) = 2000;
  TORCH_ARG(int64_t, synthetic_classes) = 10;
  TORCH_ARG(std::vector<int64_t>, synthetic_shape) = std::vector<int64_t>{1, 28, 28};
};

}  // namespace tiebreak::data
