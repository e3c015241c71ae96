#include "tiebreak/train/run_record.h"

#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/build_info.h"
#include "tiebreak/core/python.h"
#include "tiebreak/core/setting_error.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/distributed/launch.h"
#include "tiebreak/distributed/process_group.h"
#include "tiebreak/train/checkpoint.h"
#include "tiebreak/train/interrupt.h"

#include <c10/util/Exception.h>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <unistd.h>
#include <cstdlib>

namespace tiebreak::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)));
}

std::string first_difference(const json& a, const json& b, const std::string& path = "") {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items()) {
      const std::string p = path.empty() ? k : path + "." + k;
      if (!b.contains(k)) return p;
      if (auto d = first_difference(v, b[k], p); !d.empty()) return d;
    }
    for (const auto& [k, v] : b.items()) {
      if (!a.contains(k)) return path.empty() ? k : path + "." + k;
    }
    return "";
  }
  return a == b ? "" : (path.empty() ? "<root>" : path);
}

}  // namespace

bool is_complete(RunStatus status) { return status == RunStatus::Finished || status == RunStatus::Diverged; }

std::optional<RunStatus> read_run_status(const fs::path& run_dir) {
  const auto path = run_dir / "run.json";
  if (!fs::exists(path)) return std::nullopt;
  try {
    auto j = json::parse(read_text(path));
    return core::enum_from_name<RunStatus>(j.at("status").get<std::string>());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

json run_identity(json config) {
  config.erase("exp");
  config.erase("sweep");
  config.erase("zones");
  config["train"].erase("stop_after_epoch");
  // Blanked rather than erased, so that the identity of a config without a root, and so independent
  // seeds (run_seed hashes the identity), stay as they were.
  if (config.contains("data") && config["data"].contains("root")) config["data"]["root"] = "";
  config["train"].erase("zone_probe");
  return config;
}

RunRecord::RunRecord(const config::LoadedConfig& loaded, fs::path dir, int64_t run_id, bool resume,
                     std::string command_line, uint64_t run_seed, distributed::DistributedContext* ctx)
    : loaded_(loaded), dir_(std::move(dir)), main_rank_(!ctx || ctx->is_main()) {
  // One writer per run directory, from before its state is read until the run ends (rank 0 writes it).
  if (main_rank_) {
    fs::create_directories(dir_);
    lock_.emplace(dir_, command_line.empty() ? "train_run (library call)" : command_line);
  }
  previous_ = read_run_status(dir_);
  // An attempt that ended before its first epoch was recorded (a bad config, missing data) kept nothing
  // worth protecting: the run starts again, with this config, with or without --resume.
  restart_ = previous_ && !is_complete(*previous_) && !fs::exists(dir_ / "checkpoint.pt") &&
             !fs::exists(dir_ / "metrics.csv");
  if (!resume && !restart_ && fs::exists(dir_ / "run.json")) {
    // An unreadable run.json (damaged, or not ours) still marks a run that must not be overwritten.
    throw core::SettingError(c10::str(dir_.string(), ": already holds a run (",
                                      previous_ ? "status " + to_string(*previous_)
                                                : (dir_ / "run.json").string() + " is unreadable",
                                      "); resume it or choose another run directory"),
                             {core::Setting::Resume, core::Setting::RunDirectory});
  }
  if (resume && !restart_ && fs::exists(dir_ / "config.json")) {
    json stored;
    try {
      stored = json::parse(read_text(dir_ / "config.json"));
    } catch (const json::exception& e) {
      TORCH_CHECK(false, (dir_ / "config.json").string(), ": unreadable (", e.what(), ")");
    }
    auto diff = first_difference(run_identity(stored), run_identity(loaded.json));
    if (!diff.empty()) {
      throw core::SettingError(
          c10::str((dir_ / "config.json").string(), ": the run was started with a different ", diff, " (",
                   config::value_at(stored, diff).dump(), " there, ",
                   config::value_at(loaded.json, diff).dump(),
                   " now); resume with the same config or choose another run directory"),
          {core::Setting::RunDirectory});
    }
  }
  if (previous_ && resume && is_complete(*previous_)) {
    RunOutcome done;
    done.status = *previous_;
    if (fs::exists(checkpoint())) {
      const json meta = read_checkpoint_meta(checkpoint());
      for (const auto& r : meta.at("rows")) done.rows.push_back(epoch_metrics_from_json(r));
    }
    completed_ = std::move(done);
    return;
  }
  // Every rank has read the run's previous state before rank 0 starts writing it.
  if (ctx) ctx->barrier();

  const auto& cfg = loaded.config;
  started_ = std::chrono::steady_clock::now();
  run_ = {{"run_id", run_id},
          {"status", to_string(RunStatus::Running)},
          {"seed", cfg.train.seed},
          {"run_seed", run_seed},
          {"config_file", loaded.source.string()},
          {"command", command_line},
          {"working_directory", fs::current_path().string()},
          {"build", to_json(build_info())},
          {"git_revision", build_info().git_revision},
          {"git_dirty", build_info().git_dirty},
          {"pid", static_cast<int64_t>(::getpid())},
          {"started_at", now_iso8601()},
          {"deterministic", cfg.exp.deterministic}};
  if (fs::exists(dir_ / "run.json")) {
    try {
      auto old = json::parse(read_text(dir_ / "run.json"));
      run_["first_started_at"] = old.value("first_started_at", old.value("started_at", ""));
      run_["sessions"] = old.value("sessions", 1) + 1;
    } catch (const json::exception&) {
      run_["sessions"] = 1;
    }
  } else {
    run_["first_started_at"] = run_["started_at"];
    run_["sessions"] = 1;
  }
  // Which GPUs the process was given (sweep --gpus, Slurm's gres): part of where the run executed.
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES")) run_["cuda_visible_devices"] = visible;
  if (ctx) {
    run_["distributed"] = {{"world_size", ctx->world_size()},
                           {"backend", ctx->backend()},
                           {"launcher", distributed::to_string(ctx->launch().launcher)}};
  }
}

void RunRecord::write() {
  if (!main_rank_) return;
  run_["updated_at"] = now_iso8601();
  write_text_atomically(dir_ / "run.json", run_.dump(2) + "\n");
}

void RunRecord::start(const c10::Device& device) {
  if (main_rank_) {
    // A process killed in the middle of an atomic write leaves its temporary file behind; holding the
    // lock, no live writer owns one.
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().filename().string().rfind(".tmp.", 0) == 0) fs::remove(entry.path());
    }
  }
  run_["device"] = device.str();
  if (device.is_cuda()) run_["device_name"] = "cuda";
  if (main_rank_) write_text_atomically(dir_ / "config.json", loaded_.json.dump(2) + "\n");
  write();
}

void RunRecord::export_tensorboard(std::function<void(const std::string&)> warn) {
  if (!main_rank_) return;
  tensorboard_.emplace(dir_, dir_ / "tensorboard.log",
                       TensorBoardExportOptions()
                           .enabled(tensorboard_wanted())
                           .python(project_python())
                           .script(project_script("tensorboard_export.py"))
                           .warn(std::move(warn)));
  run_["tensorboard"] = tensorboard_->status();
}

void RunRecord::persist_epochs(const std::vector<EpochMetrics>& rows, int64_t epochs_done,
                               const std::function<void(const fs::path&)>& save_checkpoint) {
  if (!main_rank_) return;
  if (loaded_.config.exp.checkpoint) save_checkpoint(checkpoint());
  write_text_atomically(dir_ / "metrics.csv", format_metrics_csv(rows));
  write_text_atomically(dir_ / "metrics_study.csv", format_study_metrics_csv(rows));
  double seconds = 0;
  for (const auto& r : rows) seconds += r.seconds;
  run_["epochs_done"] = epochs_done;
  run_["seconds_total"] = seconds;
  if (tensorboard_) {
    tensorboard_->update();
    run_["tensorboard"] = tensorboard_->status();
  }
  write();
}

void RunRecord::stop() {
  run_["status"] = to_string(RunStatus::Stopped);
  if (tensorboard_) run_["tensorboard"] = tensorboard_->finish();
  write();
}

void RunRecord::finish(RunOutcome& outcome) {
  // A run is diverged when it ends non-finite: frozen, or (training on under loss scaling) with a
  // non-finite last epoch.
  const bool diverged = !outcome.rows.empty() && outcome.rows.back().diverged;
  outcome.status = diverged ? RunStatus::Diverged : RunStatus::Finished;
  run_["status"] = to_string(outcome.status);
  run_["finished_at"] = now_iso8601();
  run_["wall_seconds_last_session"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (!outcome.rows.empty()) {
    run_["final_test_accuracy"] = outcome.rows.back().test_accuracy;
    double best = 0;
    for (const auto& r : outcome.rows) best = std::max(best, r.test_accuracy);
    run_["best_test_accuracy"] = best;
  }
  if (tensorboard_) run_["tensorboard"] = tensorboard_->finish();
  write();
}

void RunRecord::interrupt(int signal) noexcept {
  try {
    run_["status"] = to_string(RunStatus::Interrupted);
    run_["interrupted_by"] = signal_name(signal);
    run_["interrupted_at"] = now_iso8601();
    // The export's warning goes to the run's log, which does not outlive this call's caller.
    tensorboard_.reset();
    write();
  } catch (...) {
    // The interruption matters more than a failure to record it.
  }
}

void RunRecord::fail(const std::string& error) noexcept {
  try {
    run_["status"] = to_string(RunStatus::Failed);
    run_["error"] = error;
    tensorboard_.reset();
    write();
  } catch (...) {
    // The original error matters more than a failure to record it.
  }
}

}  // namespace tiebreak::train
