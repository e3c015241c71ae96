#include "tiebreak/study/sweep.h"

#include "study/sweep_status.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/process.h"
#include "tiebreak/core/run_lock.h"
#include "tiebreak/train/interrupt.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

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

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

/// Directory names keep to a portable alphabet.
std::string sanitize(const std::string& text) {
  std::string out;
  for (char c : text)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == '=')
               ? c
               : '_';
  return out;
}

}  // namespace

GridAxis parse_grid_axis(const std::string& argument) {
  auto eq = argument.find('=');
  TORCH_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < argument.size(), "--grid ", argument,
              ": expected key=v1,v2,... e.g. nonsmooth.beta=0,1,1000");
  GridAxis axis;
  axis.key = argument.substr(0, eq);
  const std::string list = argument.substr(eq + 1);
  std::string item;
  std::stringstream ss(list);
  while (std::getline(ss, item, ',')) {
    TORCH_CHECK(!item.empty(), "--grid ", argument, ": empty value in the list");
    try {
      axis.values.push_back(config::parse_value(item));
    } catch (const config::ConfigError& e) {
      TORCH_CHECK(false, "--grid ", argument, ": ", axis.key, ": ", e.what());
    }
  }
  std::set<std::string> seen;
  for (const auto& v : axis.values) {
    TORCH_CHECK(seen.insert(v.dump()).second, "--grid ", argument, ": value ", v.dump(), " appears twice");
  }
  return axis;
}

std::vector<GridAxis> config_grid(const config::ExperimentConfig& config) {
  std::vector<GridAxis> axes;
  for (const auto& [key, values] : config.sweep.grid) axes.push_back({key, values});
  return axes;
}

std::vector<GridPoint> expand_grid(const std::vector<GridAxis>& axes) {
  std::map<std::string, int> short_names;
  std::set<std::string> keys;
  for (const auto& a : axes) {
    TORCH_CHECK(keys.insert(a.key).second, "--grid ", a.key, ": the same key is given twice");
    short_names[a.key.substr(a.key.rfind('.') + 1)]++;
  }
  std::vector<GridPoint> points{GridPoint{}};
  for (const auto& axis : axes) {
    std::string label = axis.key.substr(axis.key.rfind('.') + 1);
    if (short_names[label] > 1) label = axis.key;
    std::vector<GridPoint> next;
    for (const auto& p : points) {
      for (const auto& v : axis.values) {
        GridPoint q = p;
        q.name += (q.name.empty() ? "" : "_") + sanitize(label + "=" + value_text(v));
        q.assignments.push_back(axis.key + "=" + v.dump());
        next.push_back(std::move(q));
      }
    }
    points = std::move(next);
  }
  if (axes.empty()) points[0].name = "default";
  return points;
}

std::vector<SweepUnit> shard_units(size_t points, int64_t runs, int64_t index, int64_t count) {
  TORCH_CHECK(count >= 1 && index >= 0 && index < count, "--shard: expected i/n with 0 <= i < n, got ", index,
              "/", count);
  std::vector<SweepUnit> units;
  int64_t k = 0;
  for (size_t p = 0; p < points; ++p) {
    for (int64_t r = 0; r < runs; ++r, ++k) {
      if (k % count == index) units.push_back({p, r});
    }
  }
  return units;
}

std::pair<int64_t, int64_t> parse_shard(const std::string& text) {
  auto slash = text.find('/');
  int64_t i = -1, n = -1;
  try {
    TORCH_CHECK(slash != std::string::npos);
    size_t used = 0;
    i = std::stoll(text.substr(0, slash), &used);
    TORCH_CHECK(used == slash);
    n = std::stoll(text.substr(slash + 1), &used);
    TORCH_CHECK(used == text.size() - slash - 1);
  } catch (const std::exception&) {
    TORCH_CHECK(false, "--shard ", text, ": expected i/n with 0 <= i < n, e.g. 0/4");
  }
  TORCH_CHECK(n >= 1 && i >= 0 && i < n, "--shard ", text, ": expected i/n with 0 <= i < n, e.g. 0/4");
  return {i, n};
}

namespace {

/// The intra-op threads of one of `jobs` concurrent child runs: its share of the cores.
int64_t child_threads(int64_t jobs) {
  const int64_t cores = std::max<int64_t>(1, at::get_num_threads());
  return std::max<int64_t>(1, cores / jobs);
}

/// `text` as one POSIX shell word.
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string format_slurm_array_script(const SweepOptions& options, const SlurmArrayOptions& slurm) {
  TORCH_CHECK(options.shard_index == 0 && options.shard_count == 1,
              "--emit-slurm: the array tasks are the shards; drop --shard ", options.shard_index, "/",
              options.shard_count);
  TORCH_CHECK(options.runs >= 0, "--runs: expected a positive number, got ", options.runs);
  TORCH_CHECK(options.jobs >= 1, "--jobs: expected a positive number, got ", options.jobs);
  TORCH_CHECK(slurm.tasks >= 0, "--slurm-tasks: expected a positive number, got ", slurm.tasks);
  const auto points = expand_grid(options.axes);
  int64_t runs = 0;
  for (const auto& p : points) {
    std::vector<std::string> sets = options.overrides;
    if (options.runs > 0) sets.push_back("train.runs=" + std::to_string(options.runs));
    sets.insert(sets.end(), p.assignments.begin(), p.assignments.end());
    runs = config::load_config(options.config_path, sets).config.train.runs;
  }
  const int64_t units = static_cast<int64_t>(points.size()) * runs;
  const int64_t tasks = slurm.tasks > 0 ? std::min(slurm.tasks, units) : units;

  const fs::path out = fs::absolute(options.out_dir);
  const fs::path exe = fs::absolute(slurm.executable.empty() ? current_executable() : slurm.executable);
  std::string command =
      shell_quote(exe.string()) + " sweep " + shell_quote(fs::absolute(options.config_path).string());
  for (const auto& axis : options.axes) {
    std::string values;
    for (const auto& v : axis.values) values += (values.empty() ? "" : ",") + value_text(v);
    command += " --grid " + shell_quote(axis.key + "=" + values);
  }
  for (const auto& s : options.overrides) command += " --set " + shell_quote(s);
  if (options.runs > 0) command += " --runs " + std::to_string(options.runs);
  command += fmt::format(" --jobs {} --out {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\"", options.jobs,
                         shell_quote(out.string()), tasks);

  std::string script = "#!/bin/bash\n";
  script += fmt::format(
      "# tiebreak sweep as a Slurm job array: task k trains shard k/{} of {} grid point(s) x {} run(s).\n"
      "# Submit with `sbatch {{this file}}`; resubmitting resumes (finished runs are skipped).\n",
      tasks, points.size(), runs);
  script += fmt::format("#SBATCH --job-name={}\n", "tiebreak-" + out.filename().string());
  script += fmt::format("#SBATCH --array=0-{}\n", tasks - 1);
  script += "#SBATCH --ntasks=1\n";
  script += fmt::format("#SBATCH --output={}\n", (out / "slurm" / "%A_%a.out").string());
  for (const auto& option : slurm.sbatch) {
    TORCH_CHECK(!option.empty() && option.find('\n') == std::string::npos,
                "--sbatch: expected one sbatch option such as --gres=gpu:1, got '", option, "'");
    script += "#SBATCH " + (option.rfind("-", 0) == 0 ? option : "--" + option) + "\n";
  }
  script += "set -euo pipefail\n";
  script += "exec " + command + "\n";
  return script;
}

SweepSummary run_sweep(const SweepOptions& options, const Components& components) {
  TORCH_CHECK(options.jobs >= 1, "--jobs: expected a positive number, got ", options.jobs);
  TORCH_CHECK(options.runs >= 0, "--runs: expected a positive number, got ", options.runs);
  for (const auto& gpu : options.gpus) {
    TORCH_CHECK(!gpu.empty() && gpu.find_first_of(",= \t\n") == std::string::npos,
                "--gpus: expected comma-separated device indices or UUIDs, got an entry '", gpu, "'");
  }
  const auto points = expand_grid(options.axes);

  // Every point's config is resolved and validated before anything trains.
  std::vector<config::LoadedConfig> configs;
  std::vector<std::vector<std::string>> point_sets;
  for (const auto& p : points) {
    std::vector<std::string> sets = options.overrides;
    if (options.runs > 0) sets.push_back("train.runs=" + std::to_string(options.runs));
    sets.insert(sets.end(), p.assignments.begin(), p.assignments.end());
    auto loaded = config::load_config(options.config_path, sets);
    configs.push_back(std::move(loaded));
    point_sets.push_back(std::move(sets));
  }
  // ... and what each names can be built (dataset, its files, the model on its images): every distinct
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
  const int64_t runs = configs.front().config.train.runs;

  fs::create_directories(options.out_dir);
  // One sweep (one per shard: the tasks of a Slurm array share the directory) writes here at a time; the runs
  // themselves are locked by their trainers.
  const DirectoryLock lock(
      options.out_dir, options.command_line.empty() ? "run_sweep (library call)" : options.command_line,
      options.shard_count == 1
          ? ".lock"
          : fmt::format(".lock.shard-{}-of-{}", options.shard_index, options.shard_count));
  json index = {{"config", options.config_path.string()},
                {"overrides", options.overrides},
                {"runs", runs},
                {"grid", json::array()},
                {"points", json::array()}};
  for (const auto& a : options.axes) index["grid"].push_back({{"key", a.key}, {"values", a.values}});
  for (size_t i = 0; i < points.size(); ++i) {
    json run_dirs = json::array();
    for (int64_t r = 0; r < runs; ++r)
      run_dirs.push_back((fs::path(points[i].name) / fmt::format("run-{}", r)).string());
    index["points"].push_back(
        {{"name", points[i].name}, {"assignments", points[i].assignments}, {"runs", run_dirs}});
  }
  write_text_atomically(options.out_dir / "sweep.json", index.dump(2) + "\n");

  SweepSummary summary;
  std::vector<SweepUnit> todo;
  for (const auto& u : shard_units(points.size(), runs, options.shard_index, options.shard_count)) {
    const auto dir = run_directory(options.out_dir / points[u.point].name, u.run_id);
    auto status = read_run_status(dir);
    if (status && is_complete(*status)) {
      ++summary.skipped;
      continue;
    }
    todo.push_back(u);
  }
  if (options.verbose) {
    std::fprintf(stderr, "sweep: %zu points x %lld runs; shard %lld/%lld: %zu to run, %lld already done\n",
                 points.size(), static_cast<long long>(runs), static_cast<long long>(options.shard_index),
                 static_cast<long long>(options.shard_count), todo.size(),
                 static_cast<long long>(summary.skipped));
  }

  size_t done = 0;
  // The live status line of child-process sweeps (a terminal: in place; a log: every exp.log_every_seconds).
  detail::SweepStatus status_line(
      options.verbose && (options.jobs > 1 || !options.gpus.empty()), todo.size(),
      options.gpus.empty() ? options.jobs : std::min<int64_t>(options.jobs, options.gpus.size()),
      configs.empty() ? 30.0 : configs.front().config.exp.log_every_seconds);
  auto record = [&](const SweepUnit& u, RunStatus status, const std::string& detail) {
    ++done;
    status_line.clear();
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

  if (options.jobs == 1 && options.gpus.empty()) {
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
      std::vector<std::string> command{current_executable().string(), "train", options.config_path.string()};
      for (const auto& s : point_sets[u.point]) command.insert(command.end(), {"--set", s});
      command.insert(command.end(),
                     {"--out", experiment.string(), "--run-id", std::to_string(u.run_id), "--resume"});
      ro.command_line = shell_command(command);
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

  // Child processes: `tiebreak train CONFIG --set ... --out POINT --run-id K --resume`.
  const std::string exe = current_executable().string();
  std::map<pid_t, SweepUnit> running;
  // With --gpus, which GPU each running child holds; a finished child frees its GPU.
  std::map<pid_t, std::string> gpu_of;
  std::vector<std::string> free_gpus(options.gpus.rbegin(), options.gpus.rend());
  const int64_t concurrency =
      options.gpus.empty() ? options.jobs : std::min<int64_t>(options.jobs, options.gpus.size());
  // A stop request (SIGINT/SIGTERM on this process) goes once to every running child, which stops at its next
  // safe point and records its run as interrupted; no new child starts, and the sweep waits for them all.
  // Children run in process groups of their own (a terminal's Ctrl-C reaches only the sweep, which forwards
  // it once) and get SIGTERM if the sweep dies without forwarding (kill -9).
  int forwarded = 0;
  auto forward_stop = [&] {
    const int signal = stop_requested();
    if (signal == 0 || forwarded != 0) return;
    forwarded = signal;
    if (options.verbose)
      std::fprintf(stderr, "sweep: %s: stopping %zu running run(s) at their next step\n",
                   signal_name(signal).c_str(), running.size());
    for (const auto& [pid, unit] : running) ::kill(pid, signal);
  };
  auto wait_one = [&] {
    int status = 0;
    pid_t pid = 0;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) <= 0) {
      TORCH_CHECK(pid == 0 || errno == EINTR, "sweep: waitpid failed: ", std::strerror(errno));
      forward_stop();
      status_line.update(done, summary.failed);
      ::usleep(50 * 1000);
    }
    status_line.ended(pid);
    auto it = running.find(pid);
    if (it == running.end()) return;
    if (auto g = gpu_of.find(pid); g != gpu_of.end()) {
      free_gpus.push_back(g->second);
      gpu_of.erase(g);
    }
    SweepUnit u = it->second;
    running.erase(it);
    const auto dir = run_directory(options.out_dir / points[u.point].name, u.run_id);
    auto recorded = read_run_status(dir);
    RunStatus s = recorded.value_or(RunStatus::Failed);
    std::string detail;
    const bool interrupted = recorded == RunStatus::Interrupted && WIFEXITED(status) &&
                             (WEXITSTATUS(status) == 128 + SIGINT || WEXITSTATUS(status) == 128 + SIGTERM);
    if (interrupted) {
      detail = fmt::format(" by {}", signal_name(WEXITSTATUS(status) - 128));
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      s = RunStatus::Failed;
      detail = fmt::format(" ({}; see {})", describe_exit(status), (dir / "console.log").string());
    }
    record(u, s, detail);
  };
  for (const auto& u : todo) {
    while (static_cast<int64_t>(running.size()) >= concurrency) wait_one();
    if (stop_requested()) break;
    const auto experiment = options.out_dir / points[u.point].name;
    const auto dir = run_directory(experiment, u.run_id);
    fs::create_directories(dir);
    SpawnOptions child;
    child.argv = {exe, "train", options.config_path.string()};
    for (const auto& s : point_sets[u.point]) {
      child.argv.push_back("--set");
      child.argv.push_back(s);
    }
    if (configs[u.point].config.exp.threads == 0) {
      // N concurrent runs each spinning up one OpenMP thread per core oversubscribe
      // the CPU, and OpenMP barriers then wait on descheduled threads (measured: a
      // 2-core LeNet-5 epoch 75x slower). Give each child its share of the cores.
      child.argv.push_back("--set");
      child.argv.push_back("exp.threads=" + std::to_string(child_threads(concurrency)));
    }
    for (const auto& s : std::vector<std::string>{"--out", experiment.string(), "--run-id",
                                                  std::to_string(u.run_id), "--resume", "--no-progress"}) {
      child.argv.push_back(s);
    }
    child.output = dir / "console.log";
    child.null_input = true;
    child.die_with_parent = true;
    child.own_process_group = true;
    std::string gpu;
    if (!options.gpus.empty()) {
      child.env.emplace();
      for (char** e = environ; *e; ++e) {
        if (std::strncmp(*e, "CUDA_VISIBLE_DEVICES=", 21) != 0) child.env->push_back(*e);
      }
      gpu = free_gpus.back();
      child.env->push_back("CUDA_VISIBLE_DEVICES=" + gpu);
    }
    pid_t pid = 0;
    try {
      pid = spawn_process(child);
    } catch (const c10::Error& e) {
      const std::string what = e.what_without_backtrace();
      record(u, RunStatus::Failed, ": " + what.substr(0, what.find('\n')));
      continue;
    }
    if (!gpu.empty()) {
      free_gpus.pop_back();
      gpu_of[pid] = gpu;
    }
    running[pid] = u;
    // A stop requested while this one started reaches it too.
    if (forwarded != 0) ::kill(pid, forwarded);
    status_line.started(pid, fmt::format("{}/run-{}", points[u.point].name, u.run_id), dir,
                        configs[u.point].config.train.epochs);
  }
  while (!running.empty()) wait_one();
  summary.signal = stop_requested();
  return summary;
}

}  // namespace tiebreak::study
