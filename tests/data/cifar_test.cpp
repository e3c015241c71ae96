#include "tiebreak/data/cifar.h"
#include "data/fixtures.h"
#include "support/test_support.h"
#include "tiebreak/data/checksums.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/io.h"
#include "tiebreak/data/registry.h"
#include "tiebreak/data/tensor_dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tiebreak::data {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

template <typename F>
void expect_data_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    for (const auto& fragment : fragments) EXPECT_THAT(e.what(), HasSubstr(fragment));
  }
}

std::pair<torch::Tensor, torch::Tensor> random_cifar(int64_t n, uint64_t seed, int64_t classes = 10) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return {torch::randint(0, 256, {n, 3, 32, 32}, gen, torch::kLong).to(torch::kByte),
          torch::randint(0, classes, {n}, gen, torch::kLong)};
}

TEST(DataCifar, RecordsAreLabelThenPlanarRgb) {
  TempDir tmp;
  // One hand-made record: label 7, red plane all 10 except pixel (row 1, col 2) = 99, green 20, blue 30.
  std::vector<uint8_t> record(3073);
  record[0] = 7;
  std::fill(record.begin() + 1, record.begin() + 1025, 10);
  std::fill(record.begin() + 1025, record.begin() + 2049, 20);
  std::fill(record.begin() + 2049, record.end(), 30);
  record[1 + 1 * 32 + 2] = 99;
  testing::write_bytes(tmp / "one.bin", record);
  auto t = read_cifar_records("cifar-10", {tmp / "one.bin"}, 1, 10, true);
  EXPECT_EQ(t.images.sizes(), torch::IntArrayRef({1, 3, 32, 32}));
  EXPECT_EQ(t.labels[0].item<int64_t>(), 7);
  EXPECT_EQ(t.images[0][0][1][2].item<int64_t>(), 99);
  EXPECT_EQ(t.images[0][0][0][0].item<int64_t>(), 10);
  EXPECT_EQ(t.images[0][1][31][31].item<int64_t>(), 20);
  EXPECT_EQ(t.images[0][2][5][5].item<int64_t>(), 30);
}

TEST(DataCifar, ConcatenatesFilesGzippedOrRaw) {
  TempDir tmp;
  auto [x1, y1] = random_cifar(5, 1);
  auto [x2, y2] = random_cifar(3, 2);
  testing::write_bytes(tmp / "a.bin", testing::cifar_records(x1, y1));
  testing::write_bytes(tmp / "b.bin.gz", testing::cifar_records(x2, y2), true);
  auto t = read_cifar_records("cifar-10", {tmp / "a.bin", tmp / "b.bin.gz"}, 1, 10, true);
  EXPECT_TRUE(torch::equal(t.images, torch::cat({x1, x2})));
  EXPECT_TRUE(torch::equal(t.labels, torch::cat({y1, y2})));
}

TEST(DataCifar, Cifar100UsesTheFineLabel) {
  TempDir tmp;
  auto [x, fine] = random_cifar(6, 3, 100);
  auto coarse = fine.div(5, "floor");
  testing::write_bytes(tmp / "train.bin", testing::cifar_records(x, fine, coarse));
  auto t = read_cifar_records("cifar-100", {tmp / "train.bin"}, 2, 100, true);
  EXPECT_TRUE(torch::equal(t.labels, fine));
  EXPECT_TRUE(torch::equal(t.images, x));
}

TEST(DataCifar, PartialRecordEmptyFileAndBadLabelAreErrors) {
  TempDir tmp;
  auto [x, y] = random_cifar(2, 4);
  auto bytes = testing::cifar_records(x, y);
  bytes.resize(bytes.size() - 100);
  testing::write_bytes(tmp / "cut.bin.gz", bytes, true);
  expect_data_error(
      [&] { read_cifar_records("cifar-10", {tmp / "cut.bin.gz"}, 1, 10, true); },
      {"cut.bin.gz", "not a whole number of 3073-byte records", "1 records and 2973 bytes over"});
  testing::write_bytes(tmp / "empty.bin", {});
  expect_data_error([&] { read_cifar_records("cifar-10", {tmp / "empty.bin"}, 1, 10, true); },
                    {"empty.bin", "empty file"});
  auto bad = testing::cifar_records(x, torch::tensor({3, 42}, torch::kLong));
  testing::write_bytes(tmp / "bad.bin", bad);
  expect_data_error([&] { read_cifar_records("cifar-10", {tmp / "bad.bin"}, 1, 10, true); },
                    {"bad.bin", "record 1 has label 42", "0..9"});
  // A CIFAR-10 file read as CIFAR-100 (3074-byte records) is caught by the record size.
  testing::write_bytes(tmp / "c10.bin",
                       testing::cifar_records(random_cifar(2, 6).first, torch::tensor({1, 2})));
  expect_data_error([&] { read_cifar_records("cifar-100", {tmp / "c10.bin"}, 2, 100, true); },
                    {"c10.bin", "3074-byte records"});
}

TEST(DataCifar, DatasetWithOverridesAugmentsTrainingOnly) {
  TempDir tmp;
  auto [x, y] = random_cifar(40, 7);
  auto [vx, vy] = random_cifar(30, 8);
  testing::write_bytes(tmp / "cifar-10" / "mine.bin", testing::cifar_records(x, y));
  testing::write_bytes(tmp / "cifar-10" / "val.bin.gz", testing::cifar_records(vx, vy), true);
  auto ds = make_dataset("cifar10", DataOptions()
                                        .root(tmp.path().string())
                                        .train_files({"mine.bin"})
                                        .test_files({"val.bin.gz"})
                                        .train_batch_size(16)
                                        .test_batch_size(30));
  EXPECT_EQ(ds->name(), "cifar-10");
  EXPECT_EQ(ds->size(Split::Train), 40);
  EXPECT_EQ(ds->size(Split::Test), 30);
  auto norm = ds->normalization();
  EXPECT_EQ(norm.mean, std::vector<double>({0.4914, 0.4822, 0.4465}));
  EXPECT_EQ(norm.std, std::vector<double>({0.2023, 0.1994, 0.2010}));
  auto* tensors = dynamic_cast<TensorDataset*>(ds.get());
  ASSERT_NE(tensors, nullptr);
  EXPECT_EQ(tensors->train_augmentation().crop_padding, 4);
  EXPECT_TRUE(tensors->train_augmentation().horizontal_flip);
  // The test split is neither shuffled nor augmented: exactly the normalized file content.
  auto test = ds->epoch(Split::Test, 3)->next();
  ASSERT_TRUE(test.has_value());
  auto mean = torch::tensor({0.4914, 0.4822, 0.4465}, torch::kFloat32).view({1, 3, 1, 1});
  auto std = torch::tensor({0.2023, 0.1994, 0.2010}, torch::kFloat32).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(test->images, (vx.to(torch::kFloat32) / 255 - mean) / std, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(test->labels, vy));
  auto train = ds->epoch(Split::Train, 0)->next();
  ASSERT_TRUE(train.has_value());
  EXPECT_EQ(train->images.sizes(), torch::IntArrayRef({16, 3, 32, 32}));
}

TEST(DataCifar, MissingDefaultBatchNamesTheFile) {
  TempDir tmp;
  auto [x, y] = random_cifar(2, 9);
  testing::write_bytes(tmp / "cifar-10" / "data_batch_1.bin", testing::cifar_records(x, y));
  expect_data_error([&] { make_dataset("cifar-10", DataOptions().root(tmp.path().string())); },
                    {"data_batch_2.bin[.gz]", "not found", "files.train"});
}

TEST(DataCifarReal, SharedSubsetsLoadAndVerifyAsSubsets) {
  TIEBREAK_REQUIRE_SHARED_DATA(train_file, "cifar-10/data_batch_1.first4000.bin.gz");
  TIEBREAK_REQUIRE_SHARED_DATA(test_file, "cifar-10/test_batch.first1000.bin.gz");
  auto ds = make_dataset("cifar-10", DataOptions()
                                         .root(train_file.parent_path().parent_path().string())
                                         .train_files({train_file.string()})
                                         .test_files({test_file.filename().string()}));
  auto* tensors = dynamic_cast<TensorDataset*>(ds.get());
  ASSERT_NE(tensors, nullptr);
  ASSERT_EQ(ds->size(Split::Train), 4000);
  ASSERT_EQ(ds->size(Split::Test), 1000);
  // First labels and class counts from ../shared/data/README.md.
  EXPECT_TRUE(torch::equal(tensors->tensors(Split::Train).labels.slice(0, 0, 10),
                           torch::tensor({6, 9, 9, 4, 1, 1, 2, 7, 8, 3}, torch::kLong)));
  EXPECT_TRUE(torch::equal(tensors->tensors(Split::Test).labels.slice(0, 0, 10),
                           torch::tensor({3, 8, 8, 0, 6, 6, 1, 6, 3, 1}, torch::kLong)));
  auto train_counts = torch::bincount(tensors->tensors(Split::Train).labels, {}, 10);
  EXPECT_TRUE(torch::equal(train_counts, torch::tensor({396, 366, 420, 384, 422, 393, 414, 385, 407, 413})));
  // Training record 0's red plane starts with 59 43 50; its blue plane ends with 140 84 72.
  auto first = tensors->tensors(Split::Train).images[0];
  EXPECT_TRUE(torch::equal(first[0].flatten().slice(0, 0, 3), torch::tensor({59, 43, 50}, torch::kByte)));
  EXPECT_TRUE(
      torch::equal(first[2].flatten().slice(0, 1021, 1024), torch::tensor({140, 84, 72}, torch::kByte)));

  auto digest = digest_file(train_file);
  auto check = check_known("cifar-10", train_file, digest.uncompressed_bytes, digest.sha256);
  EXPECT_EQ(check.status, ChecksumCheck::Status::VerifiedSubset);
  EXPECT_THAT(check.detail, HasSubstr("verified subset"));
  EXPECT_THAT(check.detail, HasSubstr("data_batch_1.bin"));
}

}  // namespace
}  // namespace tiebreak::data
