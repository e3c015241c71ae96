#include "tiebreak/data/idx.h"

#include "loading.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/io.h"
#include "tiebreak/data/transforms.h"

#include <spdlog/spdlog.h>

#include <cstring>

namespace tiebreak::data {

namespace fs = std::filesystem;
using detail::read_be32;

namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

torch::Tensor parse_idx_images(const fs::path& path, const std::vector<uint8_t>& bytes) {
  TIEBREAK_DATA_CHECK(bytes.size() >= 4, path.string(), ": expected an IDX image file, the file has only ",
                      bytes.size(), " bytes");
  const uint32_t magic = read_be32(bytes.data());
  TIEBREAK_DATA_CHECK(magic == kImageMagic, path.string(), ": expected IDX image magic ", hex32(kImageMagic),
                      " (unsigned bytes, 3 dimensions), got ", hex32(magic),
                      magic == kLabelMagic ? " (a label file)" : "");
  TIEBREAK_DATA_CHECK(bytes.size() >= 16, path.string(),
                      ": expected a 16-byte IDX image header, the file has only ", bytes.size(), " bytes");
  const int64_t n = read_be32(bytes.data() + 4), rows = read_be32(bytes.data() + 8),
                cols = read_be32(bytes.data() + 12);
  TIEBREAK_DATA_CHECK(rows > 0 && cols > 0 && rows <= 4096 && cols <= 4096, path.string(),
                      ": expected image sides in 1..4096, header says ", rows, "x", cols);
  const int64_t expected = 16 + n * rows * cols;
  TIEBREAK_DATA_CHECK(static_cast<int64_t>(bytes.size()) == expected, path.string(), ": header says ", n,
                      " images of ", rows, "x", cols, " = ", expected, " bytes, the file has ", bytes.size(),
                      static_cast<int64_t>(bytes.size()) < expected ? " (truncated)" : " (trailing bytes)");
  auto images = torch::empty({n, 1, rows, cols}, torch::kByte);
  std::memcpy(images.data_ptr<uint8_t>(), bytes.data() + 16, static_cast<size_t>(n * rows * cols));
  return images;
}

torch::Tensor parse_idx_labels(const fs::path& path, const std::vector<uint8_t>& bytes, int64_t num_classes) {
  TIEBREAK_DATA_CHECK(bytes.size() >= 4, path.string(), ": expected an IDX label file, the file has only ",
                      bytes.size(), " bytes");
  const uint32_t magic = read_be32(bytes.data());
  TIEBREAK_DATA_CHECK(magic == kLabelMagic, path.string(), ": expected IDX label magic ", hex32(kLabelMagic),
                      " (unsigned bytes, 1 dimension), got ", hex32(magic),
                      magic == kImageMagic ? " (an image file)" : "");
  TIEBREAK_DATA_CHECK(bytes.size() >= 8, path.string(),
                      ": expected an 8-byte IDX label header, the file has only ", bytes.size(), " bytes");
  const int64_t n = read_be32(bytes.data() + 4);
  const int64_t expected = 8 + n;
  TIEBREAK_DATA_CHECK(static_cast<int64_t>(bytes.size()) == expected, path.string(), ": header says ", n,
                      " labels = ", expected, " bytes, the file has ", bytes.size(),
                      static_cast<int64_t>(bytes.size()) < expected ? " (truncated)" : " (trailing bytes)");
  auto raw = torch::from_blob(const_cast<uint8_t*>(bytes.data() + 8), {n}, torch::kByte);
  if (n > 0) {
    const int64_t hi = raw.max().item<int64_t>();
    if (hi >= num_classes) {
      const int64_t at = raw.ge(num_classes).nonzero()[0][0].item<int64_t>();
      throw DataError(c10::str(path.string(), ": label ", int(bytes[8 + at]), " at index ", at,
                               ", expected 0..", num_classes - 1));
    }
  }
  return raw.to(torch::kLong);
}

struct IdxSpec {
  const char* name;
  int64_t classes;
};

IdxSpec idx_spec(const std::string& name) {
  if (name == "mnist" || name == "fashion-mnist" || name == "kmnist") return {name.c_str(), 10};
  throw DataError("make_idx_dataset: expected mnist, fashion-mnist or kmnist, got \"" + name + "\"");
}

}  // namespace

torch::Tensor read_idx_images(const fs::path& path) { return parse_idx_images(path, read_file_bytes(path)); }

torch::Tensor read_idx_labels(const fs::path& path, int64_t num_classes) {
  return parse_idx_labels(path, read_file_bytes(path), num_classes);
}

ImageTensors load_idx_split(const std::string& dataset, const fs::path& images, const fs::path& labels,
                            int64_t num_classes, bool verify_checksums) {
  auto image_bytes = read_file_bytes(images);
  detail::check_content(dataset, images, image_bytes, verify_checksums);
  auto label_bytes = read_file_bytes(labels);
  detail::check_content(dataset, labels, label_bytes, verify_checksums);
  ImageTensors t{parse_idx_images(images, image_bytes), parse_idx_labels(labels, label_bytes, num_classes)};
  TIEBREAK_DATA_CHECK(t.images.size(0) == t.labels.size(0), dataset, ": ", images.string(), " holds ",
                      t.images.size(0), " images but ", labels.string(), " holds ", t.labels.size(0),
                      " labels");
  return t;
}

std::shared_ptr<TensorDataset> make_idx_dataset(const DataOptions& options) {
  const auto spec = idx_spec(options.name());
  const fs::path dir = detail::dataset_folder(options);
  auto load = [&](Split split, const std::vector<std::string>& overrides, const char* prefix) {
    if (!overrides.empty()) {
      TIEBREAK_DATA_CHECK(overrides.size() == 2, options.name(), ": files.", to_string(split),
                          ": expected two files {images, labels}, got ", overrides.size());
    }
    auto files = detail::split_files(
        options.name(), dir, split, overrides,
        {std::string(prefix) + "-images-idx3-ubyte", std::string(prefix) + "-labels-idx1-ubyte"});
    return load_idx_split(options.name(), files[0], files[1], spec.classes, options.verify_checksums());
  };
  auto train = load(Split::Train, options.train_files(), "train");
  auto test = load(Split::Test, options.test_files(), "t10k");
  spdlog::info("{}: {} training and {} test images from {}", options.name(), train.images.size(0),
               test.images.size(0), dir.string());
  return std::make_shared<TensorDataset>(options, options.name(), std::move(train), std::move(test),
                                         spec.classes, half_normalization(1), Augmentation{});
}

}  // namespace tiebreak::data
