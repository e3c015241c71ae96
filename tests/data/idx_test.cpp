#include "tiebreak/data/idx.h"
#include "data/fixtures.h"
#include "support/test_support.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/registry.h"
#include "tiebreak/data/tensor_dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tiebreak::data {
namespace {

using testing::expect_data_error;
using ::testing::HasSubstr;
using testing::TempDir;

TEST(DataIdx, RoundTripsRawAndGzipped) {
  TempDir tmp;
  auto [images, labels] = testing::random_idx(7, 28, 28, 3);
  for (bool gz : {false, true}) {
    const std::string ext = gz ? ".gz" : "";
    testing::write_bytes(tmp / ("i" + ext), testing::idx_images(images), gz);
    testing::write_bytes(tmp / ("l" + ext), testing::idx_labels(labels), gz);
    auto x = read_idx_images(tmp / ("i" + ext));
    auto y = read_idx_labels(tmp / ("l" + ext), 10);
    EXPECT_EQ(x.sizes(), torch::IntArrayRef({7, 1, 28, 28}));
    EXPECT_EQ(x.scalar_type(), torch::kByte);
    EXPECT_TRUE(torch::equal(x.squeeze(1), images));
    EXPECT_EQ(y.scalar_type(), torch::kLong);
    EXPECT_TRUE(torch::equal(y, labels));
  }
}

TEST(DataIdx, BadMagicNamesTheFileAndTheExpectedMagic) {
  TempDir tmp;
  auto [images, labels] = testing::random_idx(3, 28, 28, 4);
  testing::write_bytes(tmp / "swapped", testing::idx_labels(labels));
  expect_data_error([&] { read_idx_images(tmp / "swapped"); },
                    {(tmp / "swapped").string(), "0x00000803", "0x00000801", "a label file"});
  testing::write_bytes(tmp / "junk", testing::idx_images(images, 0x12345678));
  expect_data_error([&] { read_idx_images(tmp / "junk"); }, {"junk", "0x12345678"});
  testing::write_bytes(tmp / "imgs", testing::idx_images(images));
  expect_data_error([&] { read_idx_labels(tmp / "imgs", 10); }, {"imgs", "0x00000801", "an image file"});
}

TEST(DataIdx, CountThatDisagreesWithTheSizeIsAnError) {
  TempDir tmp;
  auto [images, labels] = testing::random_idx(4, 28, 28, 5);
  testing::write_bytes(tmp / "short.gz", testing::idx_images(images, 0x803, /*header_count=*/5), true);
  expect_data_error([&] { read_idx_images(tmp / "short.gz"); },
                    {"short.gz", "header says 5 images", "truncated"});
  testing::write_bytes(tmp / "long", testing::idx_images(images, 0x803, 3));
  expect_data_error([&] { read_idx_images(tmp / "long"); }, {"long", "trailing bytes"});
  testing::write_bytes(tmp / "tiny", {0, 0, 8, 3, 0, 0});
  expect_data_error([&] { read_idx_images(tmp / "tiny"); }, {"tiny", "16-byte"});
}

TEST(DataIdx, LabelOutOfRangeIsAnError) {
  TempDir tmp;
  auto labels = torch::tensor({1, 2, 12, 3}, torch::kLong);
  testing::write_bytes(tmp / "l", testing::idx_labels(labels));
  expect_data_error([&] { read_idx_labels(tmp / "l", 10); }, {"label 12 at index 2", "0..9"});
}

TEST(DataIdx, ImageAndLabelCountsMustAgree) {
  TempDir tmp;
  auto [images, labels] = testing::random_idx(5, 28, 28, 6);
  testing::write_bytes(tmp / "i", testing::idx_images(images));
  testing::write_bytes(tmp / "l", testing::idx_labels(labels.slice(0, 0, 4)));
  expect_data_error([&] { load_idx_split("mnist", tmp / "i", tmp / "l", 10, true); },
                    {"holds 5 images", "holds 4 labels"});
}

TEST(DataIdx, LoadsAnMnistFolderThroughTheRegistry) {
  TempDir tmp;
  testing::write_idx_dataset(tmp / "mnist", 300, 120, /*gzip=*/true);
  auto ds = make_dataset("MNIST", DataOptions().root(tmp.path().string()));
  EXPECT_EQ(ds->name(), "mnist");
  EXPECT_EQ(ds->size(Split::Train), 300);
  EXPECT_EQ(ds->size(Split::Test), 120);
  EXPECT_EQ(ds->num_classes(), 10);
  EXPECT_EQ(ds->image_shape().channels, 1);
  EXPECT_EQ(ds->image_shape().height, 28);
  auto norm = ds->normalization();
  EXPECT_EQ(norm.mean, std::vector<double>({0.5}));
  EXPECT_EQ(norm.std, std::vector<double>({0.5}));
  auto batch = ds->epoch(Split::Test, 0)->next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->images.sizes(), torch::IntArrayRef({100, 1, 28, 28}));
  auto [vx, vy] = testing::random_idx(120, 28, 28, 2);  // the test split written above
  EXPECT_TRUE(torch::equal(batch->labels, vy.slice(0, 0, 100)));
  auto expected = vx.slice(0, 0, 100).unsqueeze(1).to(torch::kFloat32).div(255).sub(0.5).div(0.5);
  EXPECT_TRUE(torch::allclose(batch->images, expected, 1e-6, 1e-6));
}

TEST(DataIdx, FileOverridesReplaceTheDefaultNames) {
  TempDir tmp;
  auto [x, y] = testing::random_idx(20, 28, 28, 9);
  testing::write_bytes(tmp / "kmnist" / "a-img", testing::idx_images(x));
  testing::write_bytes(tmp / "kmnist" / "a-lab.gz", testing::idx_labels(y), true);
  auto opts = DataOptions()
                  .root(tmp.path().string())
                  .train_files({"a-img", "a-lab.gz"})
                  .test_files({(tmp / "kmnist" / "a-img").string(), (tmp / "kmnist" / "a-lab.gz").string()});
  auto ds = make_dataset("kmnist", opts);
  EXPECT_EQ(ds->size(Split::Train), 20);
  EXPECT_EQ(ds->size(Split::Test), 20);
  expect_data_error(
      [&] { make_dataset("kmnist", DataOptions().root(tmp.path().string()).train_files({"a-img"})); },
      {"files.train", "two files"});
}

TEST(DataIdx, MissingFileNamesItAndTheWayToGetIt) {
  TempDir tmp;
  testing::write_idx_dataset(tmp / "mnist", 10, 10, false);
  std::filesystem::remove(tmp / "mnist" / "t10k-labels-idx1-ubyte");
  expect_data_error([&] { make_dataset("mnist", DataOptions().root(tmp.path().string())); },
                    {(tmp / "mnist" / "t10k-labels-idx1-ubyte").string(), "not found", "fetch_data.sh"});
}

TEST(DataIdx, AKnownOriginalWithOtherContentFailsItsChecksum) {
  TempDir tmp;
  // The size of the original MNIST training labels, but not their content.
  auto labels = torch::arange(60000, torch::kLong).remainder(10);
  testing::write_idx_dataset(tmp / "mnist", 10, 10, false);
  testing::write_bytes(tmp / "mnist" / "train-labels-idx1-ubyte", testing::idx_labels(labels));
  auto [x, y] = testing::random_idx(60000, 28, 28, 11);
  testing::write_bytes(tmp / "mnist" / "train-images-idx3-ubyte", testing::idx_images(x));
  // The advice names only what a config can do (no verify_checksums: no config field or flag sets it).
  expect_data_error(
      [&] { make_dataset("mnist", DataOptions().root(tmp.path().string())); },
      {"train-", "SHA-256", "expected", "corrupt", "fetch it again (scripts/fetch_data.sh mnist)",
       "list it in the config's data.files.train or data.files.test"});
  try {
    make_dataset("mnist", DataOptions().root(tmp.path().string()));
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), ::testing::Not(::testing::HasSubstr("verify_checksums")));
  }
  // With verification off the same files load.
  auto ds = make_dataset("mnist", DataOptions().root(tmp.path().string()).verify_checksums(false));
  EXPECT_EQ(ds->size(Split::Train), 60000);
}

std::vector<int64_t> class_counts(const torch::Tensor& labels, int64_t classes) {
  auto counts = torch::bincount(labels, {}, classes);
  return std::vector<int64_t>(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + classes);
}

TEST(DataIdxReal, CompleteMnistMatchesTheReadme) {
  TIEBREAK_REQUIRE_SHARED_DATA(mnist_images, "mnist/train-images-idx3-ubyte.gz");
  auto ds = make_dataset("mnist", DataOptions().root(mnist_images.parent_path().parent_path().string()));
  auto* tensors = dynamic_cast<TensorDataset*>(ds.get());
  ASSERT_NE(tensors, nullptr);
  EXPECT_EQ(ds->size(Split::Train), 60000);
  EXPECT_EQ(ds->size(Split::Test), 10000);
  // Class counts from ../shared/data/README.md.
  EXPECT_EQ(class_counts(tensors->tensors(Split::Train).labels, 10),
            std::vector<int64_t>({5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}));
  EXPECT_EQ(class_counts(tensors->tensors(Split::Test).labels, 10),
            std::vector<int64_t>({980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}));
  EXPECT_EQ(tensors->tensors(Split::Train).images.max().item<int64_t>(), 255);
}

TEST(DataIdxReal, FashionMnistFromDebianWithoutConfiguration) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed (skipped, not failed)";
  }
  TempDir empty_root;
  EXPECT_EQ(dataset_dir("fashion-mnist", empty_root.path()), "/usr/share/datasets/fashion-mnist");
  auto ds = make_dataset("fashion-mnist", DataOptions().root(empty_root.path().string()));
  auto* tensors = dynamic_cast<TensorDataset*>(ds.get());
  ASSERT_NE(tensors, nullptr);
  EXPECT_EQ(ds->size(Split::Train), 60000);
  EXPECT_EQ(ds->size(Split::Test), 10000);
  // Fashion-MNIST is balanced: 6000 and 1000 images per class.
  EXPECT_EQ(class_counts(tensors->tensors(Split::Train).labels, 10), std::vector<int64_t>(10, 6000));
  EXPECT_EQ(class_counts(tensors->tensors(Split::Test).labels, 10), std::vector<int64_t>(10, 1000));
}

}  // namespace
}  // namespace tiebreak::data
