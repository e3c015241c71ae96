#include "study/sweep_status.h"

#include "tiebreak/core/csv.h"
#include "tiebreak/train/metrics.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tiebreak::study::detail {

SweepStatus::SweepStatus(bool enabled, size_t total, int64_t concurrency, double every_seconds)
    : enabled_(enabled),
      tty_(enabled && ::isatty(STDERR_FILENO)),
      every_(tty_ ? 1.0 : every_seconds),
      total_(total),
      concurrency_(std::max<int64_t>(1, concurrency)),
      last_(std::chrono::steady_clock::now()) {}

void SweepStatus::started(pid_t pid, std::string name, std::filesystem::path run_dir, int64_t epochs) {
  running_[pid] = Running{std::move(name), std::move(run_dir), epochs, std::chrono::steady_clock::now()};
}

void SweepStatus::ended(pid_t pid) {
  auto it = running_.find(pid);
  if (it == running_.end()) return;
  ended_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second.started).count();
  ++ended_count_;
  running_.erase(it);
}

std::string SweepStatus::format(size_t done, int64_t failed) const {
  const auto now = std::chrono::steady_clock::now();
  std::string runs;
  // Fraction of the running runs' work done, for the ETA before any run has ended.
  double running_fraction = 0, running_elapsed = 0;
  for (const auto& [pid, r] : running_) {
    int64_t epochs_done = 0;
    std::string accuracy;
    try {
      // Rewritten atomically by the child after every epoch: always a complete table or absent.
      if (std::filesystem::exists(r.dir / "metrics.csv")) {
        const auto table = read_csv(r.dir / "metrics.csv");
        epochs_done = static_cast<int64_t>(table.rows.size());
        const int column = table.index("test_accuracy");
        if (!table.rows.empty() && column >= 0)
          accuracy = fmt::format(" {:.1f}%", 100 * std::stod(table.rows.back()[column]));
      }
    } catch (const std::exception&) {
      // A table being replaced or unreadable: shown without its epoch this time.
    }
    runs +=
        fmt::format("{}{} epoch {}/{}{}", runs.empty() ? "" : ", ", r.name, epochs_done, r.epochs, accuracy);
    running_fraction += r.epochs > 0 ? static_cast<double>(epochs_done) / static_cast<double>(r.epochs) : 0;
    running_elapsed += std::chrono::duration<double>(now - r.started).count();
  }
  // The ETA: runs left (not started, plus what the running ones still have to do) × time per run, over the
  // runs trained at once. Time per run: the ended runs' mean, else the running runs' projection.
  double per_run = ended_count_ > 0 ? ended_seconds_ / static_cast<double>(ended_count_)
                                    : (running_fraction > 0 ? running_elapsed / running_fraction
                                                            : std::numeric_limits<double>::quiet_NaN());
  const double left = static_cast<double>(total_ - std::min(total_, done)) - running_fraction;
  const double eta = per_run * std::max(0.0, left) / static_cast<double>(concurrency_);
  return fmt::format("sweep: {}/{} done ({} failed), {} running{}{}  ETA {}", done, total_, failed,
                     running_.size(), running_.empty() ? "" : ": ", runs, train::format_duration(eta));
}

void SweepStatus::update(size_t done, int64_t failed) {
  if (!enabled_ || every_ <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() < every_) return;
  last_ = now;
  const std::string text = format(done, failed);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    dirty_ = true;
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
}

void SweepStatus::clear() {
  if (!dirty_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  dirty_ = false;
}

}  // namespace tiebreak::study::detail
