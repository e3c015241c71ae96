#include "tiebreak/core/tensorboard.h"

#include "tiebreak/core/process.h"
#include "tiebreak/core/text_file.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <sys/wait.h>
#include <cstdlib>

namespace tiebreak {

namespace fs = std::filesystem;

namespace {

/// tensorboard_export.py's exit status without the tensorboard package.
constexpr int kNoTensorBoardPackage = 3;

/// The last non-empty line of the exporter's output: its one-line error.
std::string last_line(const fs::path& log) {
  std::string text;
  try {
    text = read_text(log);
  } catch (const c10::Error&) {
    return "";
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  const auto from = text.rfind('\n');
  return from == std::string::npos ? text : text.substr(from + 1);
}

}  // namespace

bool tensorboard_wanted() {
  const char* env = std::getenv("TIEBREAK_TENSORBOARD");
  if (env == nullptr) return true;
  const std::string value = env;
  return !(value == "0" || value == "false" || value == "off" || value == "no");
}

TensorBoardExport::TensorBoardExport(fs::path dir, fs::path log, TensorBoardExportOptions options)
    : dir_(std::move(dir)), log_(std::move(log)), options_(std::move(options)) {}

TensorBoardExport::~TensorBoardExport() {
  try {
    collect(/*block=*/true);
  } catch (...) {
    // A destructor runs during unwinding: the error that unwinds matters more.
  }
}

void TensorBoardExport::update() {
  if (!options_.enabled() || failed_) return;
  collect(/*block=*/false);
  if (failed_) return;
  if (pid_ != 0) {
    pending_ = true;
    return;
  }
  start();
}

nlohmann::json TensorBoardExport::finish() {
  if (options_.enabled() && !failed_) {
    collect(/*block=*/true);
    if (pending_ && !failed_) {
      start();
      collect(/*block=*/true);
    }
  }
  return status();
}

nlohmann::json TensorBoardExport::status() const {
  if (!options_.enabled()) return {{"status", "off"}};
  nlohmann::json s = {{"logdir", "tensorboard"}};
  if (failed_) {
    s["status"] = "unavailable";
    s["reason"] = reason_;
  } else {
    s["status"] = pid_ != 0 || pending_ || exports_ == 0 ? "live" : "written";
  }
  return s;
}

void TensorBoardExport::start() {
  pending_ = false;
  SpawnOptions child;
  child.argv = {options_.python(), options_.script().string(), "--quiet", dir_.string()};
  child.output = log_;
  child.null_input = true;
  child.die_with_parent = true;
  child.own_process_group = true;
  try {
    pid_ = spawn_process(child);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    fail(what.substr(0, what.find('\n')));
  }
}

void TensorBoardExport::collect(bool block) {
  if (pid_ == 0) return;
  int status = 0;
  if (block) {
    status = wait_process(pid_);
  } else {
    const auto done = try_wait_process(pid_);
    if (!done) return;
    status = *done;
  }
  pid_ = 0;
  ++exports_;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string line = last_line(log_);
  if (WIFEXITED(status) && WEXITSTATUS(status) == kNoTensorBoardPackage) {
    fail(fmt::format("{} has no tensorboard package ({})", options_.python(), line));
  } else {
    fail(fmt::format("{} {} failed ({}){}", options_.python(), options_.script().string(),
                     describe_exit(status), line.empty() ? "" : ": " + line));
  }
}

void TensorBoardExport::fail(const std::string& reason) {
  failed_ = true;
  pending_ = false;
  reason_ = reason;
  if (options_.warn())
    options_.warn()(
        fmt::format("TensorBoard logs of {} are off: {} (metrics.csv is complete; python "
                    "scripts/tensorboard_export.py {} writes them later)",
                    dir_.string(), reason, dir_.string()));
}

}  // namespace tiebreak
