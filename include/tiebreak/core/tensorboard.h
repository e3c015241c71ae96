#pragma once

#include <torch/arg.h>
#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>

namespace tiebreak {

/// Whether runs write TensorBoard logs: true unless $TIEBREAK_TENSORBOARD is 0, false, off or no (what
/// `--no-tensorboard` sets, and the runs a sweep starts inherit).
bool tensorboard_wanted();

/// How TensorBoardExport runs the exporter.
struct TensorBoardExportOptions {
  /// false: nothing runs, status() says "off" (tensorboard_wanted()).
  TORCH_ARG(bool, enabled) = true;
  /// The interpreter (project_python()) and scripts/tensorboard_export.py (project_script()).
  TORCH_ARG(std::string, python);
  TORCH_ARG(std::filesystem::path, script);
  /// Called once, with one line, when the logs cannot be written (no Python, no tensorboard package, an
  /// export that failed); the caller goes on without them.
  TORCH_ARG(std::function<void(const std::string&)>, warn);
};

/// Keeps the TensorBoard event files of a directory (a run, a zones or diverge output) up to date by running
/// scripts/tensorboard_export.py on it, the tensorboard package's own writer, in a child process of the
/// project's Python: `tensorboard --logdir runs` then shows a 200-epoch run's curves while it trains.
///
/// update() is what a run calls after each epoch's metrics.csv: it starts an export and returns at once; an
/// update while one is still running is remembered and started when that one has ended (at a later update()
/// or at finish()), so exports never overlap and never queue up. The exporter appends only the epochs it has
/// not written (it is idempotent from metrics.csv), so a skipped update loses nothing. finish() waits for the
/// running export and runs the remembered one. The child's output goes to `log`; it runs in its own process
/// group (a terminal's Ctrl-C reaches the run, which then waits for the export) and gets SIGTERM if this
/// process dies.
///
/// Never throws for a missing Python, script or tensorboard package, nor for an export that fails: it warns
/// once through options.warn, stops exporting, and status() records why (the run's metrics.csv is the record;
/// running the script by hand writes the logs later).
///
/// Example:
/// ```
/// TensorBoardExport tensorboard(run_dir, run_dir / "tensorboard.log",
///                               TensorBoardExportOptions().python(project_python())
///                                   .script(project_script("tensorboard_export.py")));
/// for (int64_t epoch = 0; epoch < epochs; ++epoch) { /* train, write metrics.csv */ tensorboard.update(); }
/// run_json["tensorboard"] = tensorboard.finish();
/// ```
class TensorBoardExport {
 public:
  TensorBoardExport(std::filesystem::path dir, std::filesystem::path log, TensorBoardExportOptions options);
  /// Waits for a running export (it takes seconds); starts none.
  ~TensorBoardExport();
  TensorBoardExport(const TensorBoardExport&) = delete;
  TensorBoardExport& operator=(const TensorBoardExport&) = delete;

  /// Starts an export unless one is running (then one more runs after it). Never blocks.
  void update();
  /// Waits for the running export, runs the remembered one to its end, and returns status().
  nlohmann::json finish();
  /// What run.json records: {"status": "off" | "live" | "written" | "unavailable", "logdir": "tensorboard",
  /// "reason": "..." (unavailable only)}.
  nlohmann::json status() const;

 private:
  void start();
  /// Collects the running export; `block` waits for it.
  void collect(bool block);
  void fail(const std::string& reason);

  std::filesystem::path dir_;
  std::filesystem::path log_;
  TensorBoardExportOptions options_;
  pid_t pid_ = 0;
  bool pending_ = false;
  bool failed_ = false;
  int64_t exports_ = 0;
  std::string reason_;
};

}  // namespace tiebreak
