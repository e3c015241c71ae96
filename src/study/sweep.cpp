#include "tiebreak/study/sweep.h"

#include "study/sweep_status.h"
#include "tiebreak/config/schema.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/process.h"
#include "tiebreak/core/run_lock.h"
#include "tiebreak/study/process_pool.h"
#include "tiebreak/train/interrupt.h"
#include "tiebreak/train/trainer.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <sys/wait.h>
#include <algorithm>
#include <csignal>
#include <set>

namespace tiebreak::study {

using train::check_runnable;
using train::Components;
using train::Interrupted;
using train::is_complete;
using train::read_run_status;
using train::run_directory;
using train::RunOptions;
using train::RunStatus;
using train::signal_name;
using train::stop_requested;
using train::train_run;

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// The intra-op threads of one of `jobs` concurrent child runs: its share of the cores.
int64_t child_threads(int64_t jobs) {
  const int64_t cores = std::max<int64_t>(1, at::get_num_threads());
  return std::max<int64_t>(1, cores / jobs);
}

/// `tiebreak train CONFIG --set ... --out POINT --run-id K --resume`: what trains one unit, as a child of a
/// --jobs sweep, and what run.json records as reproducing it.
std::vector<std::string> train_command(const SweepOptions& options, const std::vector<std::string>& sets,
                                       const fs::path& experiment, int64_t run_id) {
  std::vector<std::string> argv{current_executable().string(), "train", options.config_path.string()};
  for (const auto& s : sets) argv.insert(argv.end(), {"--set", s});
  argv.insert(argv.end(), {"--out", experiment.string(), "--run-id", std::to_string(run_id), "--resume"});
  return argv;
}

json sweep_index(const SweepOptions& options, const ResolvedSweep& sweep) {
  json index = {{"config", options.config_path.string()},
                {"overrides", options.overrides},
                {"runs", sweep.runs},
                {"grid", json::array()},
                {"points", json::array()}};
  for (const auto& a : options.axes) index["grid"].push_back({{"key", a.key}, {"values", a.values}});
  for (const auto& point : sweep.points) {
    json run_dirs = json::array();
    for (int64_t r = 0; r < sweep.runs; ++r)
      run_dirs.push_back((fs::path(point.name) / fmt::format("run-{}", r)).string());
    index["points"].push_back({{"name", point.name}, {"assignments", point.assignments}, {"runs", run_dirs}});
  }
  return index;
}

}  // namespace

ResolvedSweep resolve_sweep(const SweepOptions& options) {
  TORCH_CHECK(options.runs >= 0, "sweep: train.runs: expected a positive number, got ", options.runs);
  ResolvedSweep sweep;
  sweep.points = expand_grid(options.axes);
  for (const auto& p : sweep.points) {
    auto sets = point_overrides(options.overrides, options.runs, p);
    sweep.configs.push_back(config::load_config(options.config_path, sets));
    sweep.overrides.push_back(std::move(sets));
  }
  sweep.runs = sweep.configs.front().config.train.runs;
  for (size_t i = 0; i < sweep.points.size(); ++i) {
    TORCH_CHECK(sweep.configs[i].config.train.runs == sweep.runs, "sweep: point ", sweep.points[i].name,
                " has train.runs = ", sweep.configs[i].config.train.runs, ", the others ", sweep.runs,
                ": every point trains the same number of runs");
  }
  return sweep;
}

SweepSummary run_sweep(const SweepOptions& options, const Components& components) {
  TORCH_CHECK(options.jobs >= 1, "sweep: jobs: expected a positive number, got ", options.jobs);
  const auto sweep = resolve_sweep(options);
  const auto& points = sweep.points;
  const auto& configs = sweep.configs;
  // What each point names can be built (dataset, its files, the model on its images): every distinct
  // data/model pair once, so that a typo fails the sweep now, not hours later in one run.
  {
    std::set<std::string> checked;
    for (const auto& c : configs) {
      std::string key;
      for (const char* section : {"data", "model", "nonsmooth"})
        key += c.json.contains(section) ? c.json.at(section).dump() : "";
      if (checked.insert(key).second) check_runnable(c.config, components);
    }
  }
  const bool children = options.jobs > 1 || !options.gpus.empty();
  std::vector<SweepUnit> todo;
  SweepSummary summary;
  size_t done = 0;
  // The live status line of child-process sweeps (a terminal: in place; a log: every exp.log_every_seconds).
  std::optional<detail::SweepStatus> status_line;
  bool announced_stop = false;
  auto record = [&](const SweepUnit& u, RunStatus status, const std::string& detail) {
    ++done;
    if (status_line) status_line->clear();
    switch (status) {
      case RunStatus::Finished:
        ++summary.finished;
        break;
      case RunStatus::Diverged:
        ++summary.diverged;
        break;
      case RunStatus::Stopped:
        ++summary.stopped;
        break;
      case RunStatus::Interrupted:
        ++summary.interrupted;
        break;
      default:
        ++summary.failed;
        break;
    }
    if (options.verbose) {
      std::fprintf(stderr, "[%zu/%zu] %s run %lld: %s%s\n", done, todo.size(), points[u.point].name.c_str(),
                   static_cast<long long>(u.run_id), to_string(status).c_str(), detail.c_str());
    }
  };
  // Built before anything is written, so that a bad GPU list fails first; declared after what its callbacks
  // use, so that its destructor (which waits for the children) runs before theirs.
  std::optional<LocalProcessPool> pool;
  if (children) {
    pool.emplace(
        ProcessPoolOptions().concurrency(options.jobs).gpus(options.gpus),
        [&](size_t k, pid_t pid, int status) {
          status_line->ended(pid);
          const SweepUnit u = todo[k];
          const auto dir = run_directory(options.out_dir / points[u.point].name, u.run_id);
          const auto recorded = read_run_status(dir);
          RunStatus s = recorded.value_or(RunStatus::Failed);
          std::string detail;
          const bool interrupted =
              recorded == RunStatus::Interrupted && WIFEXITED(status) &&
              (WEXITSTATUS(status) == 128 + SIGINT || WEXITSTATUS(status) == 128 + SIGTERM);
          if (interrupted) {
            detail = fmt::format(" by {}", signal_name(WEXITSTATUS(status) - 128));
          } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            s = RunStatus::Failed;
            detail = fmt::format(" ({}; see {})", describe_exit(status), (dir / "console.log").string());
          }
          record(u, s, detail);
        },
        [&] {
          if (pool->forwarded_signal() != 0 && !announced_stop) {
            announced_stop = true;
            if (options.verbose)
              std::fprintf(stderr, "sweep: %s: stopping %zu running run(s) at their next step\n",
                           signal_name(pool->forwarded_signal()).c_str(), pool->running());
          }
          status_line->update(done, summary.failed);
        });
  }

  fs::create_directories(options.out_dir);
  // One sweep (one per shard: the tasks of a Slurm array share the directory) writes here at a time; the runs
  // themselves are locked by their trainers.
  const DirectoryLock lock(
      options.out_dir, options.command_line.empty() ? "run_sweep (library call)" : options.command_line,
      options.shard_count == 1
          ? ".lock"
          : fmt::format(".lock.shard-{}-of-{}", options.shard_index, options.shard_count));
  write_text_atomically(options.out_dir / "sweep.json", sweep_index(options, sweep).dump(2) + "\n");

  for (const auto& u : shard_units(points.size(), sweep.runs, options.shard_index, options.shard_count)) {
    const auto status = read_run_status(run_directory(options.out_dir / points[u.point].name, u.run_id));
    if (status && is_complete(*status)) {
      ++summary.skipped;
      continue;
    }
    todo.push_back(u);
  }
  if (options.verbose) {
    std::fprintf(stderr, "sweep: %zu points x %lld runs; shard %lld/%lld: %zu to run, %lld already done\n",
                 points.size(), static_cast<long long>(sweep.runs),
                 static_cast<long long>(options.shard_index), static_cast<long long>(options.shard_count),
                 todo.size(), static_cast<long long>(summary.skipped));
  }

  if (!children) {
    for (const auto& u : todo) {
      if (stop_requested()) break;
      const auto experiment = options.out_dir / points[u.point].name;
      fs::create_directories(experiment);
      write_text_atomically(experiment / "config.json", configs[u.point].json.dump(2) + "\n");
      RunOptions ro;
      ro.run_dir = run_directory(experiment, u.run_id);
      ro.run_id = u.run_id;
      ro.resume = true;
      ro.progress = options.verbose;
      // What reproduces this run alone: the child command of a --jobs sweep, in this process's directory.
      ro.command_line = shell_command(train_command(options, sweep.overrides[u.point], experiment, u.run_id));
      try {
        auto outcome = train_run(configs[u.point], ro, components);
        std::string detail;
        if (!outcome.rows.empty())
          detail = fmt::format(" (test accuracy {:.2f}%)", 100 * outcome.rows.back().test_accuracy);
        record(u, outcome.status, detail);
      } catch (const Interrupted& e) {
        record(u, RunStatus::Interrupted, fmt::format(" by {}", signal_name(e.signal())));
        break;
      } catch (const std::exception& e) {
        std::string what = e.what();
        if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) what = c10->what_without_backtrace();
        record(u, RunStatus::Failed, ": " + what.substr(0, what.find('\n')));
      }
    }
    summary.signal = stop_requested();
    return summary;
  }

  status_line.emplace(options.verbose, todo.size(), pool->concurrency(),
                      configs.front().config.exp.log_every_seconds);
  for (size_t k = 0; k < todo.size(); ++k) {
    const auto& u = todo[k];
    // A stop request (SIGINT/SIGTERM on this process) reaches every running child, which stops at its next
    // safe point and records its run as interrupted; no new child starts, and the sweep waits for them all.
    pool->wait_for_slot();
    if (stop_requested()) break;
    const auto experiment = options.out_dir / points[u.point].name;
    const auto dir = run_directory(experiment, u.run_id);
    fs::create_directories(dir);
    auto sets = sweep.overrides[u.point];
    // N concurrent runs each spinning up one OpenMP thread per core oversubscribe the CPU, and OpenMP
    // barriers then wait on descheduled threads (measured: a 2-core LeNet-5 epoch 75x slower). Each child
    // gets its share of the cores.
    if (configs[u.point].config.exp.threads == 0)
      sets.push_back("exp.threads=" + std::to_string(child_threads(pool->concurrency())));
    auto argv = train_command(options, sets, experiment, u.run_id);
    argv.push_back("--no-progress");
    try {
      const pid_t pid = pool->submit(k, argv, dir / "console.log");
      status_line->started(pid, fmt::format("{}/run-{}", points[u.point].name, u.run_id), dir,
                           configs[u.point].config.train.epochs);
    } catch (const c10::Error& e) {
      const std::string what = e.what_without_backtrace();
      record(u, RunStatus::Failed, ": " + what.substr(0, what.find('\n')));
    }
  }
  pool->wait_all();
  summary.signal = stop_requested();
  return summary;
}

}  // namespace tiebreak::study
