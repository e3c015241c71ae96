// One writer per directory (issue 12 §3): the lock and how trainers use it.
#include "tiebreak/core/run_lock.h"

#include "support/test_support.h"
#include "tiebreak/train/trainer.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <fstream>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tiebreak::testing::error_message;
using tiebreak::testing::TempDir;

TEST(DirectoryLock, ASecondHolderIsRefusedWithTheFirstOnesPidHostAndCommand) {
  TempDir dir;
  std::optional<DirectoryLock> first;
  first.emplace(dir.path(), "tiebreak train first.json");
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const auto message = error_message([&] { DirectoryLock second(dir.path(), "tiebreak train second.json"); });
  EXPECT_THAT(message, HasSubstr(dir.path().string() + ": in use by pid " + std::to_string(::getpid()) +
                                 " on host " + host));
  EXPECT_THAT(message, HasSubstr("(tiebreak train first.json); wait for it to end or use another --out"));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  first.reset();
  EXPECT_EQ(error_message([&] { DirectoryLock again(dir.path(), "again"); }), "<no error>");
}

TEST(DirectoryLock, LocksWithOtherNamesAreIndependent) {
  TempDir dir;
  DirectoryLock shard0(dir.path(), "shard 0", ".lock.shard-0-of-2");
  EXPECT_EQ(error_message([&] { DirectoryLock shard1(dir.path(), "shard 1", ".lock.shard-1-of-2"); }),
            "<no error>");
  EXPECT_THAT(error_message([&] { DirectoryLock again(dir.path(), "shard 0 again", ".lock.shard-0-of-2"); }),
              HasSubstr("in use by pid"));
}

TEST(DirectoryLock, TheOperatingSystemReleasesItWhenTheHolderIsKilled) {
  TempDir dir;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    try {
      DirectoryLock lock(dir.path(), "the child");
      [[maybe_unused]] auto n = ::write(ready[1], "x", 1);
      ::pause();
    } catch (...) {
    }
    ::_exit(1);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  EXPECT_THAT(error_message([&] { DirectoryLock lock(dir.path(), "the parent"); }),
              HasSubstr("in use by pid " + std::to_string(child) + " "));
  ::kill(child, SIGKILL);  // no clean-up of any kind
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(error_message([&] { DirectoryLock lock(dir.path(), "the parent"); }), "<no error>");
}

TEST(DirectoryLock, ATrainerRefusesARunDirectoryInUseAndLeavesItsTemporariesAlone) {
  TempDir dir;
  fs::create_directories(dir / "run");
  DirectoryLock other(dir / "run", "another writer");
  std::ofstream(dir / "run" / ".tmp.checkpoint.pt.123.456") << "the other writer's file in progress";
  RunOptions o;
  o.run_dir = dir / "run";
  o.progress = false;
  EXPECT_THAT(
      error_message([&] { train_run(testing::synthetic_config(), o, testing::synthetic_components()); }),
      HasSubstr((dir / "run").string() + ": in use by pid"));
  EXPECT_TRUE(fs::exists(dir / "run" / ".tmp.checkpoint.pt.123.456"));
  EXPECT_FALSE(fs::exists(dir / "run" / "run.json"));
}

}  // namespace
}  // namespace tiebreak::train
