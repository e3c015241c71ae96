// LocalProcessPool: the local process pool of `tiebreak sweep --jobs N --gpus ...`.
#include "tiebreak/study/process_pool.h"

#include "support/test_support.h"
#include "tiebreak/core/process.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/interrupt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <csignal>
#include <fstream>
#include <set>
#include <sstream>

namespace tiebreak::study {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tiebreak::testing::error_message;
using tiebreak::testing::TempDir;

std::vector<std::string> lines(const fs::path& file) {
  std::vector<std::string> out;
  if (!fs::exists(file)) return out;
  std::istringstream in(read_text(file));
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(LocalProcessPool, RunsAtMostOneChildPerGpuAndNeverTwoOnOneGpu) {
  TempDir dir;
  // Each child claims running.<its GPU> with mkdir (atomic: a second holder of the same GPU fails it), counts
  // the children running with it, and gives its GPU back.
  const auto script = dir / "child.sh";
  std::ofstream(script) << "d=\"$1\"\n"
                        << "mkdir \"$d/running.$CUDA_VISIBLE_DEVICES\" || echo clash >> \"$d/clashes\"\n"
                        << "ls \"$d\" | grep -c '^running\\.' >> \"$d/counts\"\n"
                        << "sleep 0.2\n"
                        << "rmdir \"$d/running.$CUDA_VISIBLE_DEVICES\"\n"
                        << "echo \"$CUDA_VISIBLE_DEVICES\" >> \"$d/gpus\"\n";
  std::vector<std::pair<size_t, int>> finished;
  LocalProcessPool pool(ProcessPoolOptions().concurrency(3).gpus({"7", "9"}),
                        [&](size_t id, pid_t, int status) { finished.emplace_back(id, status); });
  EXPECT_EQ(pool.concurrency(), 2);  // two GPUs cap three jobs
  for (size_t id = 0; id < 6; ++id)
    pool.submit(id, {"/bin/sh", script.string(), dir.path().string()}, dir / "log");
  pool.wait_all();
  EXPECT_FALSE(fs::exists(dir / "clashes")) << read_text(dir / "log");
  const auto counts = lines(dir / "counts");
  ASSERT_EQ(counts.size(), 6u);
  for (const auto& c : counts) EXPECT_LE(std::stoi(c), 2);
  const auto gpus = lines(dir / "gpus");
  ASSERT_EQ(gpus.size(), 6u);
  EXPECT_EQ(std::set<std::string>(gpus.begin(), gpus.end()), (std::set<std::string>{"7", "9"}));
  std::set<size_t> ids;
  for (const auto& [id, status] : finished) {
    ids.insert(id);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_exit(status);
  }
  EXPECT_EQ(ids, (std::set<size_t>{0, 1, 2, 3, 4, 5}));
}

TEST(LocalProcessPool, AStopRequestReachesEveryRunningChildOnce) {
  TempDir dir;
  std::vector<int> statuses;
  {
    LocalProcessPool pool(ProcessPoolOptions().concurrency(2),
                          [&](size_t, pid_t, int status) { statuses.push_back(status); });
    pool.submit(0, {"/bin/sleep", "60"}, dir / "log");
    pool.submit(1, {"/bin/sleep", "60"}, dir / "log");
    train::request_stop(SIGTERM);
    pool.wait_all();
    EXPECT_EQ(pool.forwarded_signal(), SIGTERM);
    train::clear_stop_request();
  }
  ASSERT_EQ(statuses.size(), 2u);
  for (int status : statuses) EXPECT_EQ(describe_exit(status), "killed by SIGTERM");
}

TEST(LocalProcessPool, AChildThatCannotStartIsAnErrorAndTheOthersRun) {
  TempDir dir;
  int done = 0;
  LocalProcessPool pool(ProcessPoolOptions().concurrency(2), [&](size_t, pid_t, int) { ++done; });
  EXPECT_THAT(error_message([&] { pool.submit(0, {(dir / "no-such-program").string()}, dir / "log"); }),
              HasSubstr("no-such-program"));
  pool.submit(1, {"/bin/true"}, dir / "log");
  pool.wait_all();
  EXPECT_EQ(done, 1);
  EXPECT_THAT(error_message([] {
                LocalProcessPool bad(ProcessPoolOptions().gpus({"0", ""}), nullptr);
              }),
              HasSubstr("got an entry ''"));
}

}  // namespace
}  // namespace tiebreak::study
