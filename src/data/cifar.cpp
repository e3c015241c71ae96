#include "tiebreak/data/cifar.h"

#include "loading.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/io.h"
#include "tiebreak/data/transforms.h"

#include <spdlog/spdlog.h>

#include <cstring>

namespace tiebreak::data {

namespace fs = std::filesystem;

namespace {
constexpr int64_t kImageBytes = 3 * 32 * 32;
constexpr int64_t kFullBatchRecords = 10000;
}  // namespace

ImageTensors read_cifar_records(const std::string& dataset, const std::vector<fs::path>& files,
                                int64_t label_bytes, int64_t num_classes, bool verify_checksums) {
  TIEBREAK_DATA_CHECK(!files.empty(), dataset, ": expected at least one record file, got none");
  const int64_t record = label_bytes + kImageBytes;
  std::vector<torch::Tensor> images, labels;
  for (const auto& path : files) {
    auto bytes = read_file_bytes(path);
    const int64_t size = static_cast<int64_t>(bytes.size());
    TIEBREAK_DATA_CHECK(size > 0, dataset, ": ", path.string(), ": empty file, expected ", record,
                        "-byte records");
    TIEBREAK_DATA_CHECK(size % record == 0, dataset, ": ", path.string(), ": ", size,
                        " bytes is not a whole number of ", record, "-byte records (", size / record,
                        " records and ", size % record, " bytes over: truncated or not a ", dataset,
                        " file)");
    detail::check_content(dataset, path, bytes, verify_checksums);
    const int64_t n = size / record;
    auto all = torch::from_blob(bytes.data(), {n, record}, torch::kByte);
    // CIFAR-100 records carry (coarse, fine); the fine label is the last label byte.
    auto label = all.select(1, label_bytes - 1);
    const int64_t hi = label.max().item<int64_t>();
    if (hi >= num_classes) {
      const int64_t at = label.ge(num_classes).nonzero()[0][0].item<int64_t>();
      throw DataError(c10::str(dataset, ": ", path.string(), ": record ", at, " has label ",
                               label[at].item<int64_t>(), ", expected 0..", num_classes - 1, " (not a ",
                               dataset, " file?)"));
    }
    images.push_back(all.slice(1, label_bytes, record).reshape({n, 3, 32, 32}).clone());
    labels.push_back(label.to(torch::kLong));
    if (n != kFullBatchRecords || label_bytes == 2) {
      spdlog::debug("{}: {}: {} records", dataset, path.filename().string(), n);
    }
  }
  return {torch::cat(images), torch::cat(labels)};
}

std::shared_ptr<TensorDataset> make_cifar_dataset(const DataOptions& options) {
  const std::string& name = options.name();
  TIEBREAK_DATA_CHECK(name == "cifar-10" || name == "cifar-100",
                      "make_cifar_dataset: expected cifar-10 or cifar-100, got \"", name, "\"");
  const bool c100 = name == "cifar-100";
  const fs::path dir = detail::dataset_folder(options);
  const std::vector<std::string> train_defaults =
      c100 ? std::vector<std::string>{"train.bin"}
           : std::vector<std::string>{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                      "data_batch_4.bin", "data_batch_5.bin"};
  const std::vector<std::string> test_defaults = {c100 ? "test.bin" : "test_batch.bin"};
  const int64_t label_bytes = c100 ? 2 : 1, classes = c100 ? 100 : 10;
  auto train = read_cifar_records(
      name, detail::split_files(name, dir, Split::Train, options.train_files(), train_defaults), label_bytes,
      classes, options.verify_checksums());
  auto test = read_cifar_records(
      name, detail::split_files(name, dir, Split::Test, options.test_files(), test_defaults), label_bytes,
      classes, options.verify_checksums());
  const int64_t full_train = 50000, full_test = 10000;
  if (train.images.size(0) != full_train || test.images.size(0) != full_test) {
    spdlog::info("{}: a subset: {} of {} training and {} of {} test images", name, train.images.size(0),
                 full_train, test.images.size(0), full_test);
  } else {
    spdlog::info("{}: {} training and {} test images from {}", name, full_train, full_test, dir.string());
  }
  return std::make_shared<TensorDataset>(options, name, std::move(train), std::move(test), classes,
                                         cifar_normalization(), Augmentation{4, true});
}

}  // namespace tiebreak::data
