// Signals end runs cleanly (issue 12 §5), in process: a stop request between two steps records the run as
// interrupted with its last checkpoint, and --resume continues it to the metrics of an uninterrupted run.
// The real signals, through the built program, are in cli_signal_test.cpp.
#include "tiebreak/train/interrupt.h"

#include "support/test_support.h"
#include "tiebreak/core/csv.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/study/compare.h"
#include "tiebreak/study/sweep.h"
#include "tiebreak/train/trainer.h"
#include "train/synthetic_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <nlohmann/json.hpp>

namespace tiebreak::train {
namespace {

using namespace tiebreak::study;

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using tiebreak::testing::metrics_without_seconds;
using tiebreak::testing::TempDir;

struct ClearStopRequest {
  ~ClearStopRequest() { clear_stop_request(); }
};

TEST(Interrupt, AStopRequestEndsTheRunBetweenStepsAndResumeGivesTheUninterruptedMetrics) {
  TempDir dir;
  ClearStopRequest clear;
  const auto config = testing::synthetic_config({"train.epochs=4"});
  RunOptions whole;
  whole.run_dir = dir / "whole";
  whole.progress = false;
  ASSERT_EQ(train_run(config, whole, testing::synthetic_components()).status, RunStatus::Finished);

  RunOptions o;
  o.run_dir = dir / "run";
  o.progress = false;
  // The request arrives while epoch 2 trains, as a signal would: as its third batch arrives.
  auto components = testing::synthetic_components();
  auto make_data = components.make_data;
  int64_t steps = 0;
  components.make_data = [&](const config::ExperimentConfig& cfg, const data::DataOptions& options) {
    class Counting : public data::BatchStream {
     public:
      Counting(std::unique_ptr<data::BatchStream> inner, int64_t& steps)
          : inner_(std::move(inner)), steps_(steps) {}
      std::optional<data::Batch> next() override {
        auto b = inner_->next();
        if (b && ++steps_ == 3) request_stop(SIGTERM);
        return b;
      }
      int64_t num_batches() const override { return inner_->num_batches(); }
      int64_t num_examples() const override { return inner_->num_examples(); }

     private:
      std::unique_ptr<data::BatchStream> inner_;
      int64_t& steps_;
    };
    std::shared_ptr<data::Dataset> inner = make_data(cfg, options);
    return std::make_shared<testing::ForwardingDataset>(
        inner, options,
        [inner, &steps](data::Split split, int64_t epoch,
                        data::Shard shard) -> std::unique_ptr<data::BatchStream> {
          auto stream = inner->epoch(split, epoch, shard);
          if (split == data::Split::Train && epoch == 1)
            return std::make_unique<Counting>(std::move(stream), steps);
          return stream;
        });
  };
  try {
    train_run(config, o, components);
    FAIL() << "expected Interrupted";
  } catch (const Interrupted& e) {
    EXPECT_EQ(e.signal(), SIGTERM);
    EXPECT_EQ(e.exit_code(), 143);
    EXPECT_EQ(std::string(e.what()),
              o.run_dir.string() +
                  ": interrupted by SIGTERM in epoch 2 of 4; the checkpoint after epoch 1 is kept, resuming "
                  "continues from it");
    // The library names the setting, not a command-line flag (the CLI spells it: cli_signal_test).
    EXPECT_EQ(e.settings(), std::vector<core::Setting>{core::Setting::Resume});
  }
  EXPECT_EQ(steps, 3) << "the step in progress ends, no further one starts";
  auto info = nlohmann::json::parse(read_text(o.run_dir / "run.json"));
  EXPECT_EQ(info["status"], "interrupted");
  EXPECT_EQ(info["interrupted_by"], "SIGTERM");
  EXPECT_EQ(info["epochs_done"], 1);
  EXPECT_EQ(read_run_status(o.run_dir), RunStatus::Interrupted);
  EXPECT_EQ(read_csv(o.run_dir / "metrics.csv").rows.size(), 1u);

  // compare counts it as interrupted, not as a result.
  auto comparison = compare_runs(collect_runs({o.run_dir}));
  ASSERT_EQ(comparison.groups.size(), 1u);
  EXPECT_EQ(comparison.groups[0].runs, 0);
  EXPECT_EQ(comparison.groups[0].interrupted, 1);
  EXPECT_THAT(format_comparison_table(comparison), HasSubstr("interrupted"));

  clear_stop_request();
  o.resume = true;
  ASSERT_EQ(train_run(config, o, testing::synthetic_components()).status, RunStatus::Finished);
  EXPECT_EQ(metrics_without_seconds(o.run_dir), metrics_without_seconds(whole.run_dir));
}

TEST(Interrupt, AnInProcessSweepStopsAndCountsTheRunInterrupted) {
  TempDir dir;
  ClearStopRequest clear;
  const auto config = testing::write_cli_config(dir.path(), 2);
  SweepOptions o;
  o.config_path = config;
  o.axes = {parse_grid_axis("nonsmooth.beta=0,1")};
  o.out_dir = dir / "sweep";
  o.verbose = false;
  auto components = testing::synthetic_components();
  auto make_model = components.make_model;
  components.make_model = [&](const config::ExperimentConfig& cfg, const data::Dataset& data, uint64_t seed) {
    // The first run's model is built after the sweep's checks: a signal arriving during its first epoch.
    static int built = 0;
    if (++built == 3) request_stop(SIGINT);
    return make_model(cfg, data, seed);
  };
  auto summary = run_sweep(o, components);
  EXPECT_EQ(summary.signal, SIGINT);
  EXPECT_EQ(summary.interrupted, 1);
  EXPECT_EQ(summary.finished + summary.failed, 0) << "no run starts after the stop request";
  EXPECT_EQ(read_run_status(dir / "sweep" / "beta=0" / "run-0"), RunStatus::Interrupted);
  EXPECT_FALSE(fs::exists(dir / "sweep" / "beta=1" / "run-0" / "run.json"));
}

// Two real signals in a child process: a repeated SIGTERM changes nothing (a dying multi-threaded parent
// sends PR_SET_PDEATHSIG's once per thread), a second Ctrl-C ends the process at once. raise() delivers
// each one before it returns, so no two of them merge as pending signals would.
TEST(Interrupt, ARepeatedSigtermIsIgnoredAndASecondSigintEndsTheProcess) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    StopOnSignals stop;
    std::raise(SIGTERM);
    std::raise(SIGTERM);
    const char alive = stop_requested() == SIGTERM ? 'y' : 'n';
    [[maybe_unused]] auto n = ::write(report[1], &alive, 1);
    std::raise(SIGINT);
    ::_exit(0);
  }
  ::close(report[1]);
  char alive = 0;
  EXPECT_EQ(::read(report[0], &alive, 1), 1);
  ::close(report[0]);
  EXPECT_EQ(alive, 'y') << "two SIGTERMs: still running, the first one recorded";
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << "status " << status;
}

TEST(Interrupt, SignalNames) {
  EXPECT_EQ(signal_name(SIGINT), "SIGINT");
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(SIGHUP), "signal " + std::to_string(SIGHUP));
}

}  // namespace
}  // namespace tiebreak::train
