// The built `tiebreak` program against the real world's concurrency (issue 12 §3-§6): two writers on one
// directory, SIGINT/SIGTERM to a run and to a sweep, kill -9 of a sweep with trainers running, and configs
// that name what cannot be built. Each fault is injected for real: a second process, a signal.
#include "cli/cli_checks.h"
#include "support/test_support.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/process.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/train/trainer.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

namespace tiebreak::train {
namespace {

using namespace tiebreak::testing;

/// `tiebreak ARGS` started in the background, its output in files; killed if the test ends first.
class Background {
 public:
  Background(const fs::path& dir, const std::string& name, const std::string& args)
      : out_(dir / (name + ".out")), err_(dir / (name + ".err")) {
    SpawnOptions o;
    o.argv = {"/bin/sh", "-c",
              "exec " + tiebreak_binary() + " " + args + " >" + out_.string() + " 2>" + err_.string()};
    o.null_input = true;
    pid_ = spawn_process(o);
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait_process(pid_);
    }
  }
  pid_t pid() const { return pid_; }
  /// The waitpid status.
  int wait() {
    const int status = wait_process(pid_);
    pid_ = -1;
    return status;
  }
  std::string err() const { return read_text(err_); }
  std::string out() const { return read_text(out_); }

 private:
  fs::path out_, err_;
  pid_t pid_ = -1;
};

bool eventually(const std::function<bool()>& condition, double seconds = 120) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

/// The pid a directory's lock records (0 while none is recorded).
pid_t lock_holder(const fs::path& dir, const std::string& name = ".lock") {
  try {
    return static_cast<pid_t>(nlohmann::json::parse(read_text(dir / name)).at("pid").get<int64_t>());
  } catch (const std::exception&) {
    return 0;
  }
}

/// Whether `pid` is a live process (a zombie waiting to be reaped is not).
bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

size_t epochs_recorded(const fs::path& run_dir) {
  try {
    return read_csv(run_dir / "metrics.csv").rows.size();
  } catch (const std::exception&) {
    return 0;
  }
}

/// The one line starting "tiebreak: " (the run's log lines come before it), which must hold `expected`.
void expect_one_tiebreak_line(const std::string& err, const std::string& expected) {
  expect_one_line(err, "tiebreak: ", expected);
}

// §3: one writer per run directory.
TEST(CliConcurrency, ASecondTrainOnTheSameRunIsRefusedNamingTheFirstAndLeavesItsFilesAlone) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 400).string();
  const auto out = dir / "exp";
  Background first(dir.path(), "first", "train " + config + " --no-progress --out " + out.string());
  // The first writer removes stale temporaries once it holds the lock and then writes the run's
  // config.json: only after that is a temporary one it could be writing.
  ASSERT_TRUE(eventually([&] {
    return lock_holder(out / "run-0") == first.pid() && fs::exists(out / "run-0" / "config.json");
  })) << first.err();
  // A temporary the first writer could be writing now: the second must not remove it.
  std::ofstream(out / "run-0" / ".tmp.checkpoint.pt.1.2") << "in progress";

  auto second = run_tiebreak("train " + config + " --no-progress --resume --out " + out.string());
  EXPECT_EQ(second.exit_code, 1);
  expect_one_tiebreak_line(second.err, "tiebreak: error: " + (out / "run-0").string() + ": in use by pid " +
                                           std::to_string(first.pid()) + " on host ");
  EXPECT_THAT(second.err, HasSubstr("tiebreak train " + config));
  EXPECT_TRUE(fs::exists(out / "run-0" / ".tmp.checkpoint.pt.1.2"));

  // kill -9 needs no clean-up: the lock goes with the process, and the next writer removes the temporaries.
  ::kill(first.pid(), SIGKILL);
  first.wait();
  const size_t done = epochs_recorded(out / "run-0");
  auto third = run_tiebreak("train " + config + " --no-progress --resume --set train.stop_after_epoch=" +
                            std::to_string(done + 1) + " --out " + out.string());
  EXPECT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(temporaries_in(out / "run-0"), std::vector<std::string>{});
  EXPECT_EQ(epochs_recorded(out / "run-0"), done + 1);
}

TEST(CliConcurrency, ASecondSweepOnTheSameDirectoryIsRefused) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 400).string();
  const auto out = dir / "sweep";
  Background first(dir.path(), "first",
                   "sweep " + config + " --grid nonsmooth.beta=0,1 --jobs 1 --out " + out.string());
  ASSERT_TRUE(eventually([&] { return lock_holder(out) == first.pid(); })) << first.err();
  auto second = run_tiebreak("sweep " + config + " --grid nonsmooth.beta=0,1 --jobs 2 --out " + out.string());
  EXPECT_EQ(second.exit_code, 1);
  expect_one_tiebreak_line(second.err, "tiebreak: error: " + out.string() + ": in use by pid " +
                                           std::to_string(first.pid()) + " on host ");
  EXPECT_FALSE(fs::exists(out / "beta=1" / "run-0" / "run.json")) << "the second sweep trained nothing";
}

// §5: signals end runs cleanly.
TEST(CliSignals, SigtermMidRunRecordsInterruptedAndResumeGivesTheUninterruptedMetrics) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 30).string();
  auto whole = run_tiebreak("train " + config + " --no-progress --out " + (dir / "whole").string());
  ASSERT_EQ(whole.exit_code, 0) << whole.err;

  const auto out = dir / "exp";
  const auto run_dir = out / "run-0";
  Background run(dir.path(), "run", "train " + config + " --no-progress --out " + out.string());
  ASSERT_TRUE(eventually([&] { return epochs_recorded(run_dir) >= 1; })) << run.err();
  ::kill(run.pid(), SIGTERM);
  const int status = run.wait();
  ASSERT_TRUE(WIFEXITED(status)) << describe_exit(status);
  EXPECT_EQ(WEXITSTATUS(status), 143) << run.err();
  expect_one_tiebreak_line(run.err(), "tiebreak: " + run_dir.string() + ": interrupted by SIGTERM in epoch ");
  // The library's words, and the flag that spells them on this command line.
  EXPECT_THAT(run.err(), HasSubstr("is kept, resuming continues from it (--resume)"));
  auto info = nlohmann::json::parse(read_text(run_dir / "run.json"));
  EXPECT_EQ(info["status"], "interrupted");
  const size_t kept = epochs_recorded(run_dir);
  ASSERT_LT(kept, 30u) << "the run ended before the signal arrived";
  EXPECT_EQ(info["epochs_done"], kept);
  EXPECT_EQ(temporaries_in(run_dir), std::vector<std::string>{});

  auto compared = run_tiebreak("compare " + out.string());
  EXPECT_EQ(compared.exit_code, 0) << compared.err;
  EXPECT_THAT(compared.out, HasSubstr("interrupted"));

  auto resumed = run_tiebreak("train " + config + " --no-progress --resume --out " + out.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(metrics_without_seconds(run_dir), metrics_without_seconds(dir / "whole" / "run-0"));
}

TEST(CliSignals, SigintEndsARunWithExit130) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 400).string();
  const auto run_dir = dir / "exp" / "run-0";
  Background run(dir.path(), "run", "train " + config + " --no-progress --out " + (dir / "exp").string());
  ASSERT_TRUE(eventually([&] { return lock_holder(run_dir) == run.pid(); })) << run.err();
  ::kill(run.pid(), SIGINT);
  const int status = run.wait();
  ASSERT_TRUE(WIFEXITED(status)) << describe_exit(status);
  EXPECT_EQ(WEXITSTATUS(status), 130) << run.err();
  expect_one_tiebreak_line(run.err(), "interrupted by SIGINT");
  EXPECT_EQ(read_run_status(run_dir), RunStatus::Interrupted);
}

// §4: children die with their sweep.
class SweepKilled : public ::testing::TestWithParam<int> {};

TEST_P(SweepKilled, NoTrainerSurvivesAndTheRerunCompletes) {
  const int signal = GetParam();
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 40).string();
  const auto out = dir / "sweep";
  const std::string sweep = "sweep " + config + " --grid nonsmooth.beta=0,1 --jobs 2 --out " + out.string();
  Background parent(dir.path(), "sweep", sweep);
  std::vector<pid_t> trainers;
  for (const char* point : {"beta=0", "beta=1"}) {
    const auto run_dir = out / point / "run-0";
    ASSERT_TRUE(eventually([&] { return lock_holder(run_dir) != 0 && epochs_recorded(run_dir) >= 1; }))
        << parent.err();
    trainers.push_back(lock_holder(run_dir));
  }
  ::kill(parent.pid(), signal);
  const int status = parent.wait();
  if (signal == SIGKILL) {
    EXPECT_TRUE(WIFSIGNALED(status)) << describe_exit(status);
    // The trainers get SIGTERM from the kernel when their parent dies, and stop at their next step.
    for (pid_t t : trainers) EXPECT_TRUE(eventually([&] { return !alive(t); }, 60)) << "trainer " << t;
  } else {
    ASSERT_TRUE(WIFEXITED(status)) << describe_exit(status);
    EXPECT_EQ(WEXITSTATUS(status), 128 + signal) << parent.err();
    expect_one_tiebreak_line(parent.err(),
                             "tiebreak: " + out.string() + ": sweep interrupted by SIGTERM: 2 run(s)");
    EXPECT_THAT(parent.out(), HasSubstr("2 interrupted"));
    // The sweep waited for them.
    for (pid_t t : trainers) EXPECT_FALSE(alive(t)) << "trainer " << t;
  }
  for (const char* point : {"beta=0", "beta=1"}) {
    EXPECT_EQ(read_run_status(out / point / "run-0"), RunStatus::Interrupted)
        << point << ": " << read_text(out / point / "run-0" / "console.log");
    EXPECT_LT(epochs_recorded(out / point / "run-0"), 40u) << point;
  }

  auto rerun = run_tiebreak(sweep);
  EXPECT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_THAT(rerun.out, HasSubstr("2 finished, 0 diverged, 0 failed"));
  for (const char* point : {"beta=0", "beta=1"}) {
    EXPECT_EQ(epochs_recorded(out / point / "run-0"), 40u) << point;
    auto info = nlohmann::json::parse(read_text(out / point / "run-0" / "run.json"));
    EXPECT_EQ(info["sessions"], 2) << point << ": one trainer per session, none left over";
  }
}

INSTANTIATE_TEST_SUITE_P(Signals, SweepKilled, ::testing::Values(SIGTERM, SIGKILL),
                         [](const auto& info) { return info.param == SIGTERM ? "Sigterm" : "Sigkill"; });

// §6: validate everything before creating anything.
struct BadConfig {
  const char* name;
  const char* sets;
  const char* expected;
};

class CliValidation : public ::testing::TestWithParam<BadConfig> {};

TEST_P(CliValidation, IsRefusedBeforeAnyDirectoryExists) {
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 1).string();
  std::string sets = GetParam().sets;
  for (size_t at; (at = sets.find("DIR")) != std::string::npos;) sets.replace(at, 3, dir.path().string());
  for (const std::string command : {"train", "sweep"}) {
    const auto out = dir / (command + "-out");
    auto r = run_tiebreak(command + " " + config + " " + sets +
                          (command == "sweep" ? " --grid nonsmooth.beta=0,1 --jobs 2" : "") + " --out " +
                          out.string());
    EXPECT_EQ(r.exit_code, 1) << command;
    std::string expected = GetParam().expected;
    for (size_t at; (at = expected.find("DIR")) != std::string::npos;)
      expected.replace(at, 3, dir.path().string());
    expect_one_tiebreak_line(r.err, "tiebreak: error: " + expected);
    EXPECT_FALSE(fs::exists(out)) << command << " created " << out;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliValidation,
    ::testing::Values(BadConfig{"UnknownDataset", "--set data.dataset=imagenette",
                                "data.dataset: unknown dataset \"imagenette\""},
                      BadConfig{
                          "UnknownModel", "--set model.name=lenet7",
                          "model.name: lenet7 cannot train on data.dataset synthetic (1x28x28 images): "},
                      BadConfig{"ModelTooBigForTheImages", "--set 'data.synthetic.shape=[1,2,2]'",
                                "model.name: lenet5 cannot train on data.dataset synthetic (1x2x2 images): "},
                      BadConfig{"MissingDataRoot", "--set data.dataset=mnist --set data.root=DIR/nowhere",
                                "mnist: DIR/nowhere/mnist/train-images-idx3-ubyte[.gz]: file not found"}),
    [](const auto& info) { return std::string(info.param.name); });

class CliRestart : public ::testing::TestWithParam<bool> {};

TEST_P(CliRestart, ARunThatFailedBeforeItsFirstEpochStartsAgainWithACorrectedConfig) {
  const bool resume = GetParam();
  TempDir dir;
  const auto config = testing::write_cli_config(dir.path(), 1).string();
  const auto out = dir / "exp";
  {
    FileSizeLimit limit(64 * 1024);  // the first checkpoint cannot be written: the run fails in epoch 1
    auto failed = run_tiebreak("train " + config + " --no-progress --out " + out.string());
    ASSERT_EQ(failed.exit_code, 1) << failed.err;
  }
  ASSERT_EQ(read_run_status(out / "run-0"), RunStatus::Failed);
  ASSERT_FALSE(fs::exists(out / "run-0" / "checkpoint.pt"));
  // Another learning rate: a different config, which a run that had kept an epoch would refuse.
  auto r = run_tiebreak("train " + config + " --no-progress" + (resume ? " --resume" : "") +
                        " --set train.optimizer.lr=0.01 --out " + out.string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_run_status(out / "run-0"), RunStatus::Finished);
  EXPECT_EQ(nlohmann::json::parse(read_text(out / "run-0" / "config.json"))["train"]["optimizer"]["lr"],
            0.01);
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutResume, CliRestart, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Resume" : "NoResume"; });

}  // namespace
}  // namespace tiebreak::train
