#include "data/fixtures.h"
#include "support/test_support.h"
#include "tiebreak/data/io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

namespace tiebreak::data {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
namespace fs = std::filesystem;

struct ScriptResult {
  int exit_code = -1;
  std::string output;
};

// Runs scripts/fetch_data.sh with `args`, TIEBREAK_MIRROR set to `mirror` (a file:// URL).
ScriptResult fetch(const std::string& mirror, const std::string& args, const TempDir& scratch) {
  const fs::path log = scratch / "fetch.log";
  const std::string cmd = "TIEBREAK_MIRROR='" + mirror + "' bash '" +
                          tiebreak::testing::source_dir().string() + "/scripts/fetch_data.sh' " + args +
                          " >'" + log.string() + "' 2>&1 </dev/null";
  const int status = std::system(cmd.c_str());
  ScriptResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto bytes = testing::read_raw_bytes(log);
  r.output.assign(bytes.begin(), bytes.end());
  return r;
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::is_directory(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

const char* kMnistFiles[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

// A file:// mirror of the real MNIST files (symbolic links to ../shared/data/mnist).
void make_mnist_mirror(const fs::path& shared_mnist, const fs::path& mirror) {
  fs::create_directories(mirror / "mnist");
  for (const char* f : kMnistFiles) fs::create_symlink(shared_mnist / f, mirror / "mnist" / f);
}

TEST(DataFetch, DownloadsAndVerifiesFromAFileMirror) {
  TIEBREAK_REQUIRE_SHARED_DATA(mnist_file, "mnist/train-images-idx3-ubyte.gz");
  TempDir tmp;
  make_mnist_mirror(mnist_file.parent_path(), tmp / "mirror");
  auto r = fetch("file://" + (tmp / "mirror").string(), "mnist " + (tmp / "out").string(), tmp);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(listing(tmp / "out"),
            std::vector<std::string>({"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                                      "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}));
  EXPECT_EQ(digest_file(tmp / "out" / "train-labels-idx1-ubyte.gz").file_sha256,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c");
  // A second run finds everything in place.
  auto again = fetch("file://" + (tmp / "mirror").string(), "mnist " + (tmp / "out").string(), tmp);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("already present, checksum verified"));
}

TEST(DataFetch, ResumesAPartialDownload) {
  TIEBREAK_REQUIRE_SHARED_DATA(mnist_file, "mnist/train-images-idx3-ubyte.gz");
  TempDir tmp;
  make_mnist_mirror(mnist_file.parent_path(), tmp / "mirror");
  auto original = testing::read_raw_bytes(mnist_file.parent_path() / "t10k-images-idx3-ubyte.gz");
  testing::write_bytes(tmp / "out" / "t10k-images-idx3-ubyte.gz.part",
                       std::vector<uint8_t>(original.begin(), original.begin() + 100000));
  auto r = fetch("file://" + (tmp / "mirror").string(), "mnist " + (tmp / "out").string(), tmp);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("resuming t10k-images-idx3-ubyte.gz from byte 100000"));
  EXPECT_EQ(testing::read_raw_bytes(tmp / "out" / "t10k-images-idx3-ubyte.gz"), original);
  EXPECT_FALSE(fs::exists(tmp / "out" / "t10k-images-idx3-ubyte.gz.part"));
}

TEST(DataFetch, SpoiledPartialDownloadIsRetriedFromScratch) {
  TIEBREAK_REQUIRE_SHARED_DATA(mnist_file, "mnist/train-images-idx3-ubyte.gz");
  TempDir tmp;
  make_mnist_mirror(mnist_file.parent_path(), tmp / "mirror");
  testing::write_bytes(tmp / "out" / "t10k-labels-idx1-ubyte.gz.part", std::vector<uint8_t>(1000, 0xab));
  auto r = fetch("file://" + (tmp / "mirror").string(), "mnist " + (tmp / "out").string(), tmp);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(digest_file(tmp / "out" / "t10k-labels-idx1-ubyte.gz").file_sha256,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6");
}

TEST(DataFetch, ChecksumMismatchFailsAndLeavesNothing) {
  TempDir tmp;
  // Well-formed IDX files, but not the originals: their checksums cannot match.
  testing::write_idx_dataset(tmp / "mirror" / "kmnist", 10, 5, /*gzip=*/true);
  auto r = fetch("file://" + (tmp / "mirror").string(), "kmnist " + (tmp / "out").string(), tmp);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("train-images-idx3-ubyte.gz: checksum mismatch"));
  EXPECT_TRUE(listing(tmp / "out").empty()) << ::testing::PrintToString(listing(tmp / "out"));
}

TEST(DataFetch, ArchiveWithWrongChecksumIsNotUnpacked) {
  TempDir tmp;
  testing::write_bytes(tmp / "src" / "cifar-10-batches-bin" / "data_batch_1.bin",
                       std::vector<uint8_t>(3073, 1));
  const std::string tar = "tar -czf '" + (tmp / "mirror" / "cifar-10" / "cifar-10-binary.tar.gz").string() +
                          "' -C '" + (tmp / "src").string() + "' cifar-10-batches-bin";
  fs::create_directories(tmp / "mirror" / "cifar-10");
  ASSERT_EQ(std::system(tar.c_str()), 0);
  auto r = fetch("file://" + (tmp / "mirror").string(), "cifar-10 " + (tmp / "out").string(), tmp);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("checksum mismatch"));
  EXPECT_TRUE(listing(tmp / "out").empty()) << ::testing::PrintToString(listing(tmp / "out"));
}

TEST(DataFetch, UnreachableMirrorFails) {
  TempDir tmp;
  auto r = fetch("file://" + (tmp / "nowhere").string(), "mnist " + (tmp / "out").string(), tmp);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("could not download"));
  EXPECT_TRUE(listing(tmp / "out").empty());
}

TEST(DataFetch, UsageErrorsAndImageNetInstructions) {
  TempDir tmp;
  auto unknown = fetch("file:///x", "imagenette", tmp);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output, HasSubstr("unknown dataset"));
  auto none = fetch("file:///x", "", tmp);
  EXPECT_EQ(none.exit_code, 2);
  auto imagenet = fetch("file:///x", "imagenet", tmp);
  EXPECT_EQ(imagenet.exit_code, 2);
  EXPECT_THAT(imagenet.output, HasSubstr("train/<wnid>/*.JPEG"));
}

}  // namespace
}  // namespace tiebreak::data
