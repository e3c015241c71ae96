#include "train/progress.h"

#include "tiebreak/distributed/process_group.h"

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <unistd.h>
#include <atomic>
#include <cmath>
#include <cstdio>

namespace tiebreak::train::detail {

namespace {

std::shared_ptr<spdlog::logger> make_logger(const std::filesystem::path& log_file,
                                            const config::ExpConfig& exp, bool console, int64_t run_id,
                                            const distributed::DistributedContext* ctx) {
  std::vector<spdlog::sink_ptr> sinks;
  const bool main_rank = !ctx || ctx->is_main();
  if (main_rank) {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string(), false);
    file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    sinks.push_back(file);
  }
  if (console || !main_rank) {
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    err->set_pattern(ctx ? fmt::format("[run {} rank {}] %v", run_id, ctx->rank())
                         : fmt::format("[run {}] %v", run_id));
    sinks.push_back(err);
  }
  auto logger = std::make_shared<spdlog::logger>("tiebreak.run", sinks.begin(), sinks.end());
  auto level = spdlog::level::from_str(core::enum_name(exp.log_level));
  logger->set_level(main_rank ? level : std::max(level, spdlog::level::warn));
  logger->flush_on(spdlog::level::info);
  // A log line that cannot be written (disk full) must not stop the run or flood
  // stderr; the files that matter (checkpoint, metrics, run.json) report their own errors.
  auto warned = std::make_shared<std::atomic<bool>>(false);
  logger->set_error_handler([warned, log_file](const std::string& message) {
    if (!warned->exchange(true))
      std::fprintf(stderr,
                   "tiebreak: warning: %s: cannot write the log (%s); later log errors are not shown\n",
                   log_file.string().c_str(), message.c_str());
  });
  return logger;
}

}  // namespace

RunProgress::RunProgress(const std::filesystem::path& log_file, const config::ExpConfig& exp, bool show,
                         int64_t run_id, int64_t epochs, const distributed::DistributedContext* ctx)
    : run_id_(run_id), epochs_(epochs) {
  const bool main_rank = !ctx || ctx->is_main();
  logger_ = make_logger(log_file, exp, show, run_id, ctx);
  tty_ = show && main_rank && ::isatty(STDERR_FILENO);
  every_ = !(show && main_rank) ? 0 : tty_ ? 0.25 : exp.log_every_seconds;
}

void RunProgress::resumed(const std::vector<EpochMetrics>& rows) {
  for (const auto& r : rows) seconds_sum_ += r.seconds;
  epochs_timed_ = static_cast<int64_t>(rows.size());
}

void RunProgress::start_epoch(int64_t epoch, int64_t train_size) {
  epoch_ = epoch;
  train_size_ = train_size;
  // The first periodic line comes after log_every_seconds of training, not at the first step.
  epoch_start_ = last_ = std::chrono::steady_clock::now();
}

void RunProgress::step(const EpochMeter& meter) {
  if (every_ <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() < every_) return;
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const int64_t seen = meter.examples();
  const double done =
      std::min(1.0, static_cast<double>(seen) / static_cast<double>(std::max<int64_t>(1, train_size_)));
  // The run's ETA: the rest of this epoch at its pace, then each remaining epoch as long as the finished
  // ones took on average (this one's projection before the first has finished).
  const double this_epoch = elapsed / std::max(done, 1e-9);
  const double per_epoch =
      epochs_timed_ == 0 ? this_epoch : seconds_sum_ / static_cast<double>(epochs_timed_);
  const double eta = this_epoch - elapsed + per_epoch * static_cast<double>(epochs_ - epoch_ - 1);
  const int64_t batch_size = std::max<int64_t>(1, seen / std::max<int64_t>(1, meter.batches()));
  tick(fmt::format("epoch {}/{} step {}/{} {:3.0f}%  loss {:.4f}  acc {:.2f}%  {:.0f} img/s  ETA {}",
                   epoch_ + 1, epochs_, meter.batches(), (train_size_ + batch_size - 1) / batch_size,
                   100.0 * done, meter.running_loss(), 100.0 * meter.running_accuracy(),
                   seen / std::max(elapsed, 1e-9), format_duration(eta)));
}

void RunProgress::tick(const std::string& text) {
  last_ = std::chrono::steady_clock::now();
  if (!tty_) {
    logger_->info(text);
    return;
  }
  // The logger's console lines carry "[run K]"; the in-place line says it itself.
  std::fprintf(stderr, "\r\033[K[run %lld] %s", static_cast<long long>(run_id_), text.c_str());
  std::fflush(stderr);
  dirty_ = true;
}

void RunProgress::epoch_done(const EpochMetrics& row, int64_t examples, double train_seconds, bool frozen) {
  seconds_sum_ += row.seconds;
  ++epochs_timed_;
  const double per_epoch = seconds_sum_ / static_cast<double>(epochs_timed_);
  clear();
  logger_->info(
      "epoch {}/{}  lr {:.3g}  train loss {:.4f} acc {:.2f}%  test loss {:.4f} acc {:.2f}%  {:.0f} img/s  "
      "{:.1f}s  ETA {}{}{}",
      row.epoch + 1, epochs_, row.lr, row.train_loss, 100 * row.train_accuracy, row.test_loss,
      100 * row.test_accuracy, examples / std::max(train_seconds, 1e-9), row.seconds,
      format_duration(per_epoch * static_cast<double>(epochs_ - row.epoch - 1)),
      row.zone_probe ? fmt::format("  zone volume {:.1f}% [{:.1f}, {:.1f}] of {} probes",
                                   100 * row.zone_probe->volume(), 100 * row.zone_probe->volume_low,
                                   100 * row.zone_probe->volume_high, row.zone_probe->finite())
                     : "",
      row.diverged ? (frozen ? "  DIVERGED" : "  NON-FINITE LOSS") : "");
}

void RunProgress::clear() {
  if (dirty_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    dirty_ = false;
  }
}

}  // namespace tiebreak::train::detail
