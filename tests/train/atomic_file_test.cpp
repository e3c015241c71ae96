#include "tiebreak/train/atomic_file.h"

#include "support/test_support.h"

#include <gtest/gtest.h>

#include <fstream>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
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

TEST(AtomicFile, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  write_text_atomically(dir / "m.csv", "complete\n");
  EXPECT_THROW(write_atomically(dir / "m.csv",
                                [](const fs::path& tmp) {
                                  std::ofstream(tmp) << "half a li";
                                  throw std::runtime_error("simulated crash mid-write");
                                }),
               std::runtime_error);
  EXPECT_EQ(read_text(dir / "m.csv"), "complete\n");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"m.csv"});
}

TEST(AtomicFile, AWriterThatProducesNothingIsAnError) {
  TempDir dir;
  EXPECT_THROW(write_atomically(dir / "x", [](const fs::path&) {}), c10::Error);
  EXPECT_FALSE(fs::exists(dir / "x"));
}

TEST(AtomicFile, ReadingAMissingFileNamesIt) {
  TempDir dir;
  try {
    read_text(dir / "absent.txt");
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("absent.txt"), std::string::npos);
  }
}

}  // namespace
}  // namespace tiebreak::train
