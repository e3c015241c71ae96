#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/text_file.h"

#include "support/test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using tiebreak::testing::error_message;
using tiebreak::testing::FileSizeLimit;
using tiebreak::testing::TempDir;

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(AtomicFile, ReplacesTheFile) {
  TempDir dir;
  write_text_atomically(dir / "m.csv", "old\n");
  write_text_atomically(dir / "m.csv", "new contents\n");
  EXPECT_EQ(read_text(dir / "m.csv"), "new contents\n");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"m.csv"});
}

TEST(AtomicFile, AWriterThatThrowsLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  write_text_atomically(dir / "m.csv", "complete\n");
  EXPECT_THROW(write_atomically(dir / "m.csv",
                                [](AtomicFileWriter& out) {
                                  out.write("half a li");
                                  throw std::runtime_error("simulated crash mid-write");
                                }),
               std::runtime_error);
  EXPECT_EQ(read_text(dir / "m.csv"), "complete\n");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"m.csv"});
}

TEST(AtomicFile, StreamsManyPiecesInOrder) {
  TempDir dir;
  write_atomically(dir / "big", [](AtomicFileWriter& out) {
    for (int i = 0; i < 1000; ++i) EXPECT_TRUE(out.write(std::to_string(i) + ","));
  });
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += std::to_string(i) + ",";
  EXPECT_EQ(read_text(dir / "big"), expected);
}

// A write that runs into a limit (here the file-size limit, which fails the
// write(2) exactly as a full disk does, with another errno) is one line naming
// the destination, not the temporary; the old file and the free space stay.
TEST(AtomicFile, AWriteThatFailsIsOneLineNamingTheFileAndKeepsTheOldOne) {
  TempDir dir;
  write_text_atomically(dir / "checkpoint.pt", "the previous checkpoint\n");
  std::string message;
  bool later_writes_refused = false;
  {
    FileSizeLimit limit(4096);
    message = error_message([&] {
      write_atomically(dir / "checkpoint.pt", [&](AtomicFileWriter& out) {
        const std::string block(1000, 'x');
        for (int i = 0; i < 10; ++i) out.write(block);  // never throws: the error waits for the end
        later_writes_refused = !out.write(block) && out.error() != 0;
      });
    });
  }
  EXPECT_TRUE(later_writes_refused);
  EXPECT_THAT(message, HasSubstr((dir / "checkpoint.pt").string() + ": cannot write: File too large"));
  EXPECT_THAT(message, HasSubstr("previous file is left as it was"));
  EXPECT_THAT(message, Not(HasSubstr(".tmp.")));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(read_text(dir / "checkpoint.pt"), "the previous checkpoint\n");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"checkpoint.pt"});
}

TEST(AtomicFile, ADirectoryThatDoesNotExistIsNamed) {
  TempDir dir;
  const auto message = error_message([&] { write_text_atomically(dir / "absent" / "sweep.sbatch", "x"); });
  EXPECT_THAT(message, HasSubstr((dir / "absent" / "sweep.sbatch").string() +
                                 ": cannot create a temporary file beside it: No such file or directory"));
  EXPECT_THAT(message, Not(HasSubstr(".tmp.")));
}

TEST(AtomicFile, ReadingAMissingFileOrADirectoryNamesIt) {
  TempDir dir;
  EXPECT_THAT(
      error_message([&] { read_text(dir / "absent.txt"); }),
      HasSubstr((dir / "absent.txt").string() + ": cannot open for reading: No such file or directory"));
  EXPECT_THAT(error_message([&] { read_text(dir.path()); }),
              HasSubstr(dir.path().string() + ": cannot read: Is a directory"));
}

}  // namespace
}  // namespace tiebreak::train
