#include "tiebreak/data/verify.h"
#include "data/fixtures.h"
#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

namespace tiebreak::data {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::pair<torch::Tensor, torch::Tensor> random_cifar(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return {torch::randint(0, 256, {n, 3, 32, 32}, gen, torch::kLong).to(torch::kByte),
          torch::randint(0, 10, {n}, gen, torch::kLong)};
}

TEST(DataVerify, MissingDatasetHasNoProblems) {
  TempDir tmp;
  auto r = verify_dataset("kmnist", tmp.path());
  EXPECT_EQ(r.status, DatasetReport::Status::Missing);
  EXPECT_EQ(r.train, -1);
  EXPECT_TRUE(r.problems.empty());
}

TEST(DataVerify, SmallWellFormedSetIsASubsetWithoutReference) {
  TempDir tmp;
  testing::write_idx_dataset(tmp / "kmnist", 30, 12, /*gzip=*/true);
  auto r = verify_dataset("kmnist", tmp.path());
  EXPECT_EQ(r.status, DatasetReport::Status::Subset);
  EXPECT_EQ(r.train, 30);
  EXPECT_EQ(r.test, 12);
  EXPECT_EQ(r.checksum, "no reference");
  EXPECT_TRUE(r.problems.empty());
}

TEST(DataVerify, MissingFileMakesItIncomplete) {
  TempDir tmp;
  testing::write_idx_dataset(tmp / "mnist", 30, 12, false);
  std::filesystem::remove(tmp / "mnist" / "t10k-images-idx3-ubyte");
  auto r = verify_dataset("mnist", tmp.path());
  EXPECT_EQ(r.status, DatasetReport::Status::Incomplete);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_THAT(r.problems[0], HasSubstr("t10k-images-idx3-ubyte[.gz]: file not found"));
}

TEST(DataVerify, BadMagicOrTruncationIsCorrupt) {
  TempDir tmp;
  testing::write_idx_dataset(tmp / "mnist", 30, 12, false);
  auto [x, y] = testing::random_idx(12, 28, 28, 5);
  testing::write_bytes(tmp / "mnist" / "t10k-images-idx3-ubyte", testing::idx_images(x, 0x00000802));
  auto r = verify_dataset("mnist", tmp.path());
  EXPECT_EQ(r.status, DatasetReport::Status::Corrupt);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_THAT(r.problems[0], HasSubstr("0x00000803"));

  auto [cx, cy] = random_cifar(3, 1);
  auto bytes = testing::cifar_records(cx, cy);
  bytes.pop_back();
  testing::write_bytes(tmp / "cifar-100" / "train.bin", bytes);
  testing::write_bytes(tmp / "cifar-100" / "test.bin", bytes);
  auto c = verify_dataset("cifar-100", tmp.path());
  EXPECT_EQ(c.status, DatasetReport::Status::Corrupt);
  EXPECT_THAT(c.problems[0], HasSubstr("3074-byte records"));
}

TEST(DataVerify, ChecksumMismatchOfAKnownOriginalIsCorrupt) {
  TempDir tmp;
  testing::write_idx_dataset(tmp / "mnist", 30, 12, false);
  // The size of the original t10k labels, different content.
  testing::write_bytes(tmp / "mnist" / "t10k-labels-idx1-ubyte",
                       testing::idx_labels(torch::arange(10000, torch::kLong).remainder(10)));
  auto r = verify_dataset("mnist", tmp.path());
  EXPECT_EQ(r.status, DatasetReport::Status::Corrupt);
  EXPECT_EQ(r.checksum, "MISMATCH");
  ASSERT_FALSE(r.problems.empty());
  EXPECT_THAT(r.problems[0], HasSubstr("t10k-labels-idx1-ubyte"));
  EXPECT_THAT(r.problems[0], HasSubstr("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"));
}

TEST(DataVerify, TableListsEveryDatasetAndItsProblems) {
  DatasetReport ok;
  ok.name = "mnist";
  ok.status = DatasetReport::Status::Ok;
  ok.train = 60000;
  ok.test = 10000;
  ok.checksum = "verified";
  ok.dir = "/d/mnist";
  DatasetReport bad = ok;
  bad.name = "cifar-10";
  bad.status = DatasetReport::Status::Corrupt;
  bad.problems = {"/d/cifar-10/test_batch.bin: truncated"};
  auto table = format_verify_table({ok, bad});
  // Each row whole: its name, status, counts, checksum and folder in their columns.
  EXPECT_TRUE(std::regex_search(table, std::regex(R"((^|\n)mnist +ok +60000 +10000 +verified +/d/mnist\n)")))
      << table;
  EXPECT_TRUE(
      std::regex_search(table, std::regex(R"((^|\n)cifar-10 +corrupt +60000 +10000 +verified +/d/mnist\n)")))
      << table;
  EXPECT_THAT(table, HasSubstr("problems:"));
  EXPECT_THAT(table, HasSubstr("cifar-10: /d/cifar-10/test_batch.bin: truncated"));
}

TEST(DataVerifyCli, EmptyRootListsAllAsMissingAndSucceeds) {
  TempDir tmp;
  auto r = testing::run_tiebreak("data verify --root " + tmp.path().string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // One row per dataset, each missing with its folder under the root ("mnist" alone would also match the
  // kmnist and fashion-mnist rows; Debian's Fashion-MNIST may be found elsewhere, so it is not listed here).
  const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  for (const std::string name : {"mnist", "kmnist", "cifar-10", "cifar-100", "svhn", "imagenet"}) {
    const std::string folder = std::regex_replace((tmp.path() / name).string(), special, R"(\$&)");
    const std::regex row(R"((^|\n))" + name + R"( +missing +- +- +- +)" + folder + R"(\n)");
    EXPECT_TRUE(std::regex_search(r.out, row)) << name << "\n" << r.out;
  }
}

TEST(DataVerifyCli, NamedMissingDatasetFails) {
  TempDir tmp;
  auto r = testing::run_tiebreak("data verify --root " + tmp.path().string() + " kmnist");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("missing"));
}

TEST(DataVerifyCli, CorruptDatasetFailsAndIsNamed) {
  TempDir tmp;
  testing::write_idx_dataset(tmp / "kmnist", 20, 10, true);
  auto bytes = testing::read_raw_bytes(tmp / "kmnist" / "train-images-idx3-ubyte.gz");
  bytes.resize(bytes.size() / 2);
  testing::write_bytes(tmp / "kmnist" / "train-images-idx3-ubyte.gz", bytes);
  auto r = testing::run_tiebreak("data verify --root " + tmp.path().string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("corrupt"));
  EXPECT_THAT(r.out, HasSubstr("train-images-idx3-ubyte.gz"));
  EXPECT_THAT(r.err, HasSubstr("1 corrupt"));
}

TEST(DataVerifyCli, UnknownDatasetIsAnError) {
  TempDir tmp;
  auto r = testing::run_tiebreak("data verify --root " + tmp.path().string() + " imagenette");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("imagenette"));
}

TEST(DataVerifyCli, SharedDataVerifies) {
  TIEBREAK_REQUIRE_SHARED_DATA(mnist, "mnist/train-images-idx3-ubyte.gz");
  TIEBREAK_REQUIRE_SHARED_DATA(cifar, "cifar-10/data_batch_1.first4000.bin.gz");
  const auto root = mnist.parent_path().parent_path().string();
  auto r = testing::run_tiebreak("data verify --root " + root + " mnist cifar-10");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("mnist +ok +60000 +10000 +verified"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("cifar-10 +subset +4000 +1000 +verified subset"));
}

TEST(DataVerifyCli, DataRootFromTheEnvironment) {
  TIEBREAK_REQUIRE_SHARED_DATA(mnist, "mnist/train-images-idx3-ubyte.gz");
  const auto root = mnist.parent_path().parent_path().string();
  // run_tiebreak inherits the environment: set TIEBREAK_DATA for the child only.
  const char* old = std::getenv("TIEBREAK_DATA");
  std::string saved = old ? old : "";
  setenv("TIEBREAK_DATA", root.c_str(), 1);
  auto with_env = testing::run_tiebreak("data verify mnist");
  if (old) {
    setenv("TIEBREAK_DATA", saved.c_str(), 1);
  } else {
    unsetenv("TIEBREAK_DATA");
  }
  EXPECT_EQ(with_env.exit_code, 0) << with_env.out << with_env.err;
  EXPECT_THAT(with_env.out, HasSubstr("data root: " + root));
}

}  // namespace
}  // namespace tiebreak::data
