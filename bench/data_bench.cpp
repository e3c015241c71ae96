// Data-level benchmark: images/s of tiebreak::data without a model.
//   data/<device>/mnist/train_epoch              a full MNIST training epoch (60000 images,
//                                                 shuffled, normalized batches of 128)
//   data/<device>/cifar10_4000/train_epoch_augment the shared 4000-image CIFAR-10 subset,
//                                                 random crop (padding 4) + flip
//   data/cpu/imagenet_jpeg/{train,val}_workers<N> JPEG decode + RandomResizedCrop/flip (train)
//                                                 or resize/centre crop (val) to 224×224 by
//                                                 N decoding threads; the JPEGs (500×375, the
//                                                 typical ImageNet size) are generated into a
//                                                 temporary folder first
// One benchmark iteration is one epoch; items are images.

#include "support/bench_support.h"

#include "tiebreak/data/registry.h"

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace tiebreak::bench {
namespace {

namespace fs = std::filesystem;

/// A temporary ImageNet-style folder of generated JPEGs, removed at exit.
class JpegFolder {
 public:
  JpegFolder(int64_t train_per_class, int64_t val_per_class, int64_t width, int64_t height) {
    root_ = fs::temp_directory_path() / ("tiebreak-bench-jpeg-" + std::to_string(::getpid()));
    std::mt19937 rng(7);
    tjhandle handle = tjInitCompress();
    if (handle == nullptr) throw std::runtime_error("data bench: tjInitCompress failed");
    std::vector<uint8_t> rgb(static_cast<size_t>(width * height * 3));
    for (const auto& [split, count] : {std::pair<std::string, int64_t>{"train", train_per_class},
                                       std::pair<std::string, int64_t>{"val", val_per_class}}) {
      for (const std::string wnid : {"n01440764", "n01443537"}) {
        const fs::path dir = root_ / "imagenet" / split / wnid;
        fs::create_directories(dir);
        for (int64_t i = 0; i < count; ++i) {
          // Smooth colour fields plus sensor-like noise (about 50 KiB each at quality 90; real
          // ImageNet JPEGs average about 110 KB, so decoding here is somewhat cheaper).
          std::uniform_real_distribution<double> phase(0.0, 6.28);
          std::uniform_int_distribution<int> noise(-12, 12);
          const double a = phase(rng), b = phase(rng), c = phase(rng);
          for (int64_t y = 0; y < height; ++y) {
            for (int64_t x = 0; x < width; ++x) {
              uint8_t* px = &rgb[static_cast<size_t>((y * width + x) * 3)];
              const double u = static_cast<double>(x) / 37.0, v = static_cast<double>(y) / 23.0;
              const double base[3] = {std::sin(u + a) + std::cos(v * 1.3 + b), std::sin(u * 0.7 + v + c),
                                      std::cos(u * 1.9 - v * 0.4 + a + b)};
              for (int ch = 0; ch < 3; ++ch) {
                px[ch] = static_cast<uint8_t>(std::clamp(128.0 + 55.0 * base[ch] + noise(rng), 0.0, 255.0));
              }
            }
          }
          unsigned char* jpeg = nullptr;
          unsigned long size = 0;
          if (tjCompress2(handle, rgb.data(), static_cast<int>(width), 0, static_cast<int>(height), TJPF_RGB,
                          &jpeg, &size, TJSAMP_420, 90, TJFLAG_FASTDCT) != 0) {
            tjDestroy(handle);
            throw std::runtime_error(std::string("data bench: tjCompress2 failed: ") + tjGetErrorStr());
          }
          std::ofstream out(dir / (wnid + "_" + std::to_string(i) + ".JPEG"), std::ios::binary);
          out.write(reinterpret_cast<const char*>(jpeg), static_cast<std::streamsize>(size));
          bytes_ += static_cast<int64_t>(size);
          ++files_;
          tjFree(jpeg);
        }
      }
    }
    tjDestroy(handle);
  }
  ~JpegFolder() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  const fs::path& root() const { return root_; }
  double mean_file_kib() const { return static_cast<double>(bytes_) / files_ / 1024.0; }

 private:
  fs::path root_;
  int64_t bytes_ = 0;
  int64_t files_ = 0;
};

/// Runs one epoch of `split` per iteration and reports images/s.
void epoch_benchmark(benchmark::State& state, std::shared_ptr<data::Dataset> dataset, data::Split split,
                     c10::Device device) {
  int64_t images = 0;
  int64_t epoch = 0;
  for (auto _ : state) {
    auto stream = dataset->epoch(split, epoch++);
    while (auto batch = stream->next()) {
      images += batch->labels.size(0);
      benchmark::DoNotOptimize(batch->images.data_ptr());
    }
    synchronize(device);
  }
  state.SetItemsProcessed(images);
  state.counters["images_per_epoch"] = static_cast<double>(images) / static_cast<double>(state.iterations());
}

void register_all(const RunOptions& options) {
  const fs::path root = shared_data_root();
  const bool have_mnist = real_data_present("mnist/train-images-idx3-ubyte.gz", "the MNIST data benchmarks");
  const bool have_cifar =
      real_data_present("cifar-10/data_batch_1.first4000.bin.gz", "the CIFAR-10 data benchmarks");
  for (const auto& device : options.devices) {
    if (have_mnist) {
      auto mnist =
          data::make_dataset("mnist", data::DataOptions().root(root.string()).device(device).seed(1));
      benchmark::RegisterBenchmark(("data/" + device.str() + "/mnist/train_epoch").c_str(), epoch_benchmark,
                                   mnist, data::Split::Train, device)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
    if (have_cifar) {
      auto cifar = data::make_dataset("cifar-10", data::DataOptions()
                                                      .root(root.string())
                                                      .device(device)
                                                      .seed(1)
                                                      .train_files({"data_batch_1.first4000.bin.gz"})
                                                      .test_files({"test_batch.first1000.bin.gz"}));
      benchmark::RegisterBenchmark(("data/" + device.str() + "/cifar10_4000/train_epoch_augment").c_str(),
                                   epoch_benchmark, cifar, data::Split::Train, device)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  // JPEG decoding is on the CPU whatever the training device.
  static std::unique_ptr<JpegFolder> jpegs;
  const int64_t per_class = options.smoke ? 2 : 64;
  jpegs = std::make_unique<JpegFolder>(per_class, options.smoke ? 1 : 16, 500, 375);
  benchmark::AddCustomContext("jpeg_mean_kib", std::to_string(jpegs->mean_file_kib()));
  for (int64_t workers : {1, 2}) {
    auto imagenet = data::make_dataset("imagenet", data::DataOptions()
                                                       .root(jpegs->root().string())
                                                       .num_workers(workers)
                                                       .train_batch_size(options.smoke ? 2 : 32)
                                                       .test_batch_size(options.smoke ? 2 : 32)
                                                       .seed(1));
    for (auto split : {data::Split::Train, data::Split::Test}) {
      const std::string name = std::string("data/cpu/imagenet_jpeg_500x375/") +
                               (split == data::Split::Train ? "train" : "val") + "_workers" +
                               std::to_string(workers);
      benchmark::RegisterBenchmark(name.c_str(), epoch_benchmark, imagenet, split, c10::Device(c10::kCPU))
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

}  // namespace
}  // namespace tiebreak::bench

int main(int argc, char** argv) {
  return tiebreak::bench::run_benchmark_program(argc, argv, tiebreak::bench::register_all);
}
