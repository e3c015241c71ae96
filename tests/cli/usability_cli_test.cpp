// The command line as a researcher meets it: --data-root, `tiebreak config`, `tiebreak evaluate`,
// run.json's reproducing command, progress lines when not on a terminal, the sweep's status line.
#include "support/test_support.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/process.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/train/metrics.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>

namespace tiebreak::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using tiebreak::testing::CommandResult;
using tiebreak::testing::run_tiebreak;
using tiebreak::testing::TempDir;

json read_json(const fs::path& path) { return json::parse(read_text(path)); }

TEST(ShellCommand, QuotesWhatTheShellWouldSplitOrExpand) {
  EXPECT_EQ(shell_command({"tiebreak", "train", "c.json", "--set", "nonsmooth.beta=1000"}),
            "tiebreak train c.json --set nonsmooth.beta=1000");
  EXPECT_EQ(shell_command({"a b", "", "it's", "$HOME", "x;y"}), "'a b' '' 'it'\\''s' '$HOME' 'x;y'");
  // What bash reads back is the same arguments.
  TempDir dir;
  const std::vector<std::string> args{"printf", "[%s]",  "a b", "",
                                      "it's",   "$HOME", "*",   "data.root=\"/x y\""};
  const std::string script = shell_command(args) + " > " + (dir / "out").string();
  ASSERT_EQ(std::system(("bash -c " + shell_command({script})).c_str()), 0);
  EXPECT_EQ(read_text(dir / "out"), "[a b][][it's][$HOME][*][data.root=\"/x y\"]");
}

TEST(DataRoot, IsWhereTheDataIsNotPartOfTheRun) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 2);
  const auto out = dir / "exp";
  auto first = run_tiebreak("train " + config.string() + " --data-root " + (dir / "old").string() +
                            " --set train.stop_after_epoch=1 --out " + out.string());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(read_json(out / "run-0" / "config.json")["data"]["root"], (dir / "old").string());
  EXPECT_EQ(read_json(out / "run-0" / "run.json")["status"], "stopped");
  // The data moved: the run resumes from the new place.
  auto resumed = run_tiebreak("train " + config.string() + " --data-root " + (dir / "new").string() +
                              " --resume --out " + out.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr("finished"));
  EXPECT_EQ(read_json(out / "run-0" / "config.json")["data"]["root"], (dir / "new").string());
  // What the run computes still has to match.
  auto other =
      run_tiebreak("train " + config.string() + " --set nonsmooth.beta=1 --resume --out " + out.string());
  EXPECT_NE(other.exit_code, 0);
  EXPECT_THAT(other.err, HasSubstr("nonsmooth.beta"));
}

TEST(DataRoot, ReachesTheDatasetLoaderOfEveryConfigCommand) {
  TempDir dir;
  std::ofstream(dir / "mnist.json") << R"({"data": {"dataset": "mnist"}, "exp": {"device": "cpu"}})";
  const auto nowhere = (dir / "nowhere").string();
  for (const std::string command : {"train", "sweep", "lr-search --trials 1 --epochs 1 --betas 0"}) {
    auto r = run_tiebreak(command + " " + (dir / "mnist.json").string() + " --data-root " + nowhere +
                          " --out " + (dir / ("out-" + command.substr(0, 5))).string());
    EXPECT_NE(r.exit_code, 0) << command;
    EXPECT_THAT(r.out + r.err, HasSubstr(nowhere + "/mnist")) << command;
  }
  auto zones =
      run_tiebreak("zones " + (dir / "mnist.json").string() + " --pair nonsmooth.beta=0,1 --data-root " +
                   nowhere + " --out " + (dir / "zones").string());
  EXPECT_NE(zones.exit_code, 0);
  EXPECT_THAT(zones.err, HasSubstr(nowhere + "/mnist"));
}

TEST(ConfigCommand, PrintsTheResolvedConfigOrTheOneLineError) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 1);
  auto r = run_tiebreak("config " + config.string() + " --set nonsmooth.beta=1000 --data-root /d");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto resolved = json::parse(r.out);
  EXPECT_EQ(resolved["nonsmooth"]["beta"], 1000);
  EXPECT_EQ(resolved["data"]["root"], "/d");
  EXPECT_EQ(resolved["train"]["optimizer"]["momentum"], 0.9);
  EXPECT_EQ(resolved["exp"]["log_every_seconds"], 30);  // defaults filled in
  auto bad = run_tiebreak("config " + config.string() + " --set train.optmizer.lr=1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err,
              MatchesRegex("tiebreak: error: --set train.optmizer.lr=1: train.optmizer: unknown key.*\n"));
}

TEST(Evaluate, GivesTheTestMetricsTheTrainerRecordedWithoutTraining) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 1);
  auto trained = run_tiebreak("train " + config.string() + " --out " + (dir / "exp").string());
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const auto run_dir = dir / "exp" / "run-0";
  const auto metrics = read_csv(run_dir / "metrics.csv");
  const auto checkpoint_before = read_text(run_dir / "checkpoint.pt");

  auto r = run_tiebreak("evaluate " + run_dir.string() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto result = json::parse(r.out);
  EXPECT_EQ(result["epochs"], 1);
  EXPECT_EQ(result["examples"], 128);
  EXPECT_DOUBLE_EQ(result["test_accuracy"].get<double>(),
                   std::stod(metrics.rows.back()[metrics.index("test_accuracy")]));
  EXPECT_NEAR(result["test_loss"].get<double>(), std::stod(metrics.rows.back()[metrics.index("test_loss")]),
              1e-12);
  ASSERT_FALSE(result["ties"].empty());
  for (const auto& [name, fraction] : result["ties"].items()) {
    EXPECT_GE(fraction.get<double>(), 0.0) << name;
    EXPECT_LE(fraction.get<double>(), 1.0) << name;
  }
  EXPECT_EQ(read_text(run_dir / "checkpoint.pt"), checkpoint_before);  // nothing trained, nothing written

  // The checkpoint file names the run too; --set changes what is evaluated.
  auto text = run_tiebreak("evaluate " + (run_dir / "checkpoint.pt").string() + " --set data.test_limit=64");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("(64 examples)"));
  EXPECT_THAT(text.out, HasSubstr("test accuracy"));

  auto missing = run_tiebreak("evaluate " + (dir / "nothing").string());
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(missing.err,
            "tiebreak: error: " + (dir / "nothing").string() + ": no such run directory or checkpoint\n");
  std::ofstream(run_dir / "checkpoint.pt", std::ios::trunc) << "not a checkpoint";
  auto damaged = run_tiebreak("evaluate " + run_dir.string());
  EXPECT_NE(damaged.exit_code, 0);
  EXPECT_THAT(damaged.err, HasSubstr((run_dir / "checkpoint.pt").string()));
  EXPECT_EQ(std::count(damaged.err.begin(), damaged.err.end(), '\n'), 1) << damaged.err;
}

TEST(RunJson, HoldsTheCommandThatReproducesTheRunAndTheTreeState) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 1);
  const auto out = dir / "exp with space";
  auto r = run_tiebreak("train " + config.string() + " --set 'data.synthetic.train_size=64' --out '" +
                        out.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto run = read_json(out / "run-0" / "run.json");
  const std::string command = run["command"];
  EXPECT_THAT(command, HasSubstr(" train " + config.string() + " --set data.synthetic.train_size=64 --out '" +
                                 out.string() + "'"));
  EXPECT_EQ(run["working_directory"], fs::current_path().string());
  EXPECT_TRUE(run["git_dirty"].is_boolean());
  EXPECT_EQ(run["git_dirty"], run["build"]["git_dirty"]);
  // Pasted into a shell (with --resume: the run is finished, so it is left as it is) it is the same run.
  EXPECT_EQ(std::system(("bash -c " + shell_command({command + " --resume > /dev/null 2>&1"})).c_str()), 0);

  // A run of an in-process sweep records the equivalent `tiebreak train` command.
  auto sweep =
      run_tiebreak("sweep " + config.string() + " --grid nonsmooth.beta=0,1 --out " + (dir / "s").string());
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  const std::string point = read_json(dir / "s" / "beta=1" / "run-0" / "run.json")["command"];
  EXPECT_THAT(point, HasSubstr(" train " + config.string() + " --set nonsmooth.beta=1 --out " +
                               (dir / "s" / "beta=1").string() + " --run-id 0 --resume"));
}

TEST(Progress, LinesEveryLogEverySecondsWhenNotATerminal) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 1);
  // Not a terminal (captured): a line per interval, here every step.
  auto r = run_tiebreak("train " + config.string() + " --set exp.log_every_seconds=1e-9 --out " +
                        (dir / "exp").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("[run 0] epoch 1/1 step 2/8"));
  EXPECT_THAT(
      r.err,
      MatchesRegex("(.|\n)*step 8/8 +100%  loss [0-9.]+  acc [0-9.]+%  [0-9]+ img/s  ETA 0:00:00(.|\n)*"));
  EXPECT_THAT(read_text(dir / "exp" / "run-0" / "train.log"), HasSubstr("step 2/8"));
  // 0 turns it off; the epoch line stays.
  auto quiet = run_tiebreak("train " + config.string() + " --set exp.log_every_seconds=0 --out " +
                            (dir / "quiet").string());
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_THAT(quiet.err, Not(HasSubstr(" step ")));
  EXPECT_THAT(quiet.err, HasSubstr("epoch 1/1  lr"));
  auto bad = run_tiebreak("train " + config.string() + " --set exp.log_every_seconds=-1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("exp.log_every_seconds: expected a non-negative number of seconds, got -1"));
}

TEST(Progress, SweepOfChildProcessesShowsAStatusLine) {
  TempDir dir;
  auto config = testing::write_cli_config(dir.path(), 2);
  auto r = run_tiebreak("sweep " + config.string() + " --grid nonsmooth.beta=0,1,2 --jobs 2" +
                        " --set exp.log_every_seconds=1e-9 --out " + (dir / "s").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err,
              MatchesRegex("(.|\n)*sweep: 0/3 done \\(0 failed\\), 2 running: beta=0/run-0 epoch [0-2]/2"
                           "(.|\n)*ETA [0-9?](.|\n)*"));
  EXPECT_THAT(r.err, HasSubstr("[3/3]"));
}

}  // namespace
}  // namespace tiebreak::train
