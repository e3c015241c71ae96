#include "tiebreak/train/trainer.h"

#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/build_info.h"
#include "tiebreak/core/python.h"
#include "tiebreak/core/run_lock.h"
#include "tiebreak/core/tensorboard.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/distributed/gradient_reducer.h"
#include "tiebreak/train/checkpoint.h"
#include "tiebreak/train/evaluate.h"
#include "tiebreak/train/interrupt.h"
#include "tiebreak/train/optimizer.h"
#include "tiebreak/train/precision.h"
#include "tiebreak/train/step.h"
#include "tiebreak/zones/probe.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace tiebreak::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)));
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
}

/// Config fields that may change between a run and its resumption: where and how
/// it executes, not what it computes. data.root is where the files are (--data-root):
/// a run resumes after its data moved. It is blanked rather than erased so that the
/// identity of a config without a root, and so independent seeds, stay as they were.
json identity_of(json config) {
  config.erase("exp");
  config.erase("sweep");
  config.erase("zones");
  config["train"].erase("stop_after_epoch");
  if (config.contains("data") && config["data"].contains("root")) config["data"]["root"] = "";
  // The zone probe measures without changing what the run computes.
  config["train"].erase("zone_probe");
  return config;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// FNV-1a: a hash of text that is the same on every machine and build (std::hash is not).
uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

bool all_finite(const torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (const auto& p : module.parameters())
    if (!torch::isfinite(p).all().item<bool>()) return false;
  return true;
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

/// Progress on stderr: in-place updates on a terminal, one line per epoch otherwise.
/// Progress within an epoch: on a terminal a line redrawn in place (at most 4 times a second); otherwise
/// (a log file, a batch job, a sweep child) a logged line every `log_every_seconds` (exp.log_every_seconds;
/// 0: none), which also goes to train.log.
class Progress {
 public:
  Progress(bool enabled, double log_every_seconds, int64_t run_id, std::shared_ptr<spdlog::logger> logger)
      : run_id_(run_id),
        enabled_(enabled),
        tty_(enabled && ::isatty(STDERR_FILENO)),
        every_(tty_ ? 0.25 : log_every_seconds),
        logger_(std::move(logger)) {}

  /// Whether a tick now would be shown (building its text costs a device synchronization).
  bool due() const {
    if (every_ <= 0) return false;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count() >= every_;
  }
  /// Restarts the interval (at the start of an epoch, so that the first periodic line comes after
  /// `log_every_seconds` of training rather than at the first step).
  void restart() { last_ = std::chrono::steady_clock::now(); }

  void tick(const std::string& text) {
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

  void line(const std::string& text) {
    clear();
    logger_->info(text);
  }

  void clear() {
    if (dirty_) {
      std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
      dirty_ = false;
    }
  }

 private:
  int64_t run_id_;
  bool enabled_;
  bool tty_;
  double every_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_{};
  std::shared_ptr<spdlog::logger> logger_;
};

/// The run's log: train.log (rank 0 only) and, with `console`, stderr. The
/// other ranks of a data-parallel run log warnings and errors to stderr only.
std::shared_ptr<spdlog::logger> make_logger(const fs::path& log_file, const config::ExpConfig& exp,
                                            bool console, int64_t run_id,
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

/// `values` (scalars on one device) summed over the ranks of `ctx`, or as they are without one.
std::vector<double> sum_over_ranks(distributed::DistributedContext* ctx,
                                   const std::vector<torch::Tensor>& values) {
  std::vector<double> result;
  if (values.empty()) return result;
  std::vector<torch::Tensor> as_double;
  for (const auto& v : values) as_double.push_back(v.to(torch::kDouble).reshape({}));
  auto packed = torch::stack(as_double);
  if (ctx) ctx->all_reduce_sum({packed});
  packed = packed.cpu();
  const double* p = packed.data_ptr<double>();
  result.assign(p, p + packed.numel());
  return result;
}

struct EpochResult {
  double loss = 0;
  double accuracy = 0;
  int64_t examples = 0;
  double seconds = 0;
};

}  // namespace

std::string to_string(RunStatus status) {
  switch (status) {
    case RunStatus::Running:
      return "running";
    case RunStatus::Stopped:
      return "stopped";
    case RunStatus::Finished:
      return "finished";
    case RunStatus::Diverged:
      return "diverged";
    case RunStatus::Failed:
      return "failed";
    case RunStatus::Interrupted:
      return "interrupted";
  }
  return "unknown";
}

RunStatus parse_run_status(const std::string& name) {
  for (auto s : {RunStatus::Running, RunStatus::Stopped, RunStatus::Finished, RunStatus::Diverged,
                 RunStatus::Failed, RunStatus::Interrupted}) {
    if (to_string(s) == name) return s;
  }
  TORCH_CHECK(false, "run status: expected running|stopped|finished|diverged|failed|interrupted, got '", name,
              "'");
}

bool is_complete(RunStatus status) { return status == RunStatus::Finished || status == RunStatus::Diverged; }

std::optional<RunStatus> read_run_status(const fs::path& run_dir) {
  const auto path = run_dir / "run.json";
  if (!fs::exists(path)) return std::nullopt;
  try {
    auto j = json::parse(read_text(path));
    return parse_run_status(j.at("status").get<std::string>());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

uint64_t run_seed(const config::LoadedConfig& config, int64_t run_id) {
  const auto& train = config.config.train;
  if (train.seeding == config::Seeding::Paired) return train.seed + static_cast<uint64_t>(run_id);
  // Everything the run computes except how long it trains (a longer run of a configuration starts as the
  // shorter one did): json dumps object keys sorted, so the text, and the seed, are reproducible.
  json identity = identity_of(config.json);
  identity["train"].erase("epochs");
  identity["train"].erase("runs");
  const uint64_t h = splitmix64(fnv1a(identity.dump()) ^ splitmix64(train.seed));
  // Below 2^63: the seed travels through JSON and torch::manual_seed as a non-negative integer.
  return splitmix64(h + static_cast<uint64_t>(run_id)) >> 1;
}

fs::path run_directory(const fs::path& experiment_dir, int64_t run_id) {
  return experiment_dir / fmt::format("run-{}", run_id);
}

fs::path default_experiment_dir(const config::LoadedConfig& config) {
  std::string name = config.config.exp.name;
  if (name.empty()) name = config.source.empty() ? "experiment" : config.source.stem().string();
  return fs::path(config.config.exp.output_dir) / name;
}

void apply_execution_settings(const config::ExpConfig& exp) {
  if (exp.threads > 0) at::set_num_threads(static_cast<int>(exp.threads));
  auto& ctx = at::globalContext();
  if (exp.deterministic) {
    // cuBLAS needs a fixed workspace for reproducible results; it must be set before the first CUDA call.
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
    ctx.setDeterministicAlgorithms(true, /*warn_only=*/false);
    ctx.setDeterministicCuDNN(true);
    ctx.setBenchmarkCuDNN(false);
  } else {
    ctx.setDeterministicAlgorithms(false, false);
    ctx.setDeterministicCuDNN(false);
    ctx.setBenchmarkCuDNN(true);
  }
}

c10::Device resolve_device(const std::string& device) {
  if (device == "auto")
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (device == "cpu") return c10::Device(c10::kCPU);
  c10::Device d(device == "cuda" ? std::string("cuda:0") : device);
  TORCH_CHECK(torch::cuda::is_available(), "exp.device: ", device,
              " requested but CUDA is not available here (no driver or no device); use cpu or auto");
  TORCH_CHECK(d.index() < static_cast<int>(torch::cuda::device_count()), "exp.device: ", device,
              " requested but only ", torch::cuda::device_count(), " CUDA device(s) exist");
  return d;
}

RunOutcome train_run(const config::LoadedConfig& loaded, const RunOptions& options,
                     const Components& components) {
  const auto& cfg = loaded.config;
  const fs::path& dir = options.run_dir;
  distributed::DistributedContext* ctx = options.distributed.get();
  const bool main_rank = !ctx || ctx->is_main();
  // One writer per run directory, from before its state is read until the run ends (rank 0 writes it).
  std::optional<DirectoryLock> lock;
  if (main_rank) {
    fs::create_directories(dir);
    lock.emplace(dir, options.command_line.empty() ? "train_run (library call)" : options.command_line);
  }

  const auto previous = read_run_status(dir);
  // An attempt that ended before its first epoch was recorded (a bad config, missing data) kept nothing
  // worth protecting: the run starts again, with this config, with or without --resume.
  const bool restart = previous && !is_complete(*previous) && !fs::exists(dir / "checkpoint.pt") &&
                       !fs::exists(dir / "metrics.csv");
  if (!options.resume && !restart && fs::exists(dir / "run.json")) {
    // An unreadable run.json (damaged, or not ours) still marks a run that must not be overwritten.
    TORCH_CHECK(false, dir.string(), ": already holds a run (",
                previous ? "status " + to_string(*previous) : (dir / "run.json").string() + " is unreadable",
                "); pass --resume to continue it or choose another --out");
  }
  if (options.resume && !restart && fs::exists(dir / "config.json")) {
    json stored;
    try {
      stored = json::parse(read_text(dir / "config.json"));
    } catch (const json::exception& e) {
      TORCH_CHECK(false, (dir / "config.json").string(), ": unreadable (", e.what(), ")");
    }
    auto diff = first_difference(identity_of(stored), identity_of(loaded.json));
    TORCH_CHECK(diff.empty(), (dir / "config.json").string(), ": the run was started with a different ", diff,
                " (", config::value_at(stored, diff).dump(), " there, ",
                config::value_at(loaded.json, diff).dump(),
                " now); resume with the same config or use another --out");
  }
  if (previous && options.resume && is_complete(*previous)) {
    RunOutcome done;
    done.status = *previous;
    if (fs::exists(dir / "checkpoint.pt")) {
      const json meta = read_checkpoint_meta(dir / "checkpoint.pt");
      for (const auto& r : meta.at("rows")) done.rows.push_back(epoch_metrics_from_json(r));
    }
    return done;
  }
  // Every rank has read the run's previous state before rank 0 starts writing it.
  if (ctx) ctx->barrier();

  // A process killed in the middle of an atomic write leaves its temporary file behind; holding the lock,
  // no live writer owns one.
  if (main_rank) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().filename().string().rfind(".tmp.", 0) == 0) fs::remove(entry.path());
    }
  }
  auto logger = make_logger(dir / "train.log", cfg.exp, options.progress, options.run_id, ctx);
  Progress progress(options.progress && main_rank, main_rank ? cfg.exp.log_every_seconds : 0, options.run_id,
                    logger);
  const uint64_t run_seed = train::run_seed(loaded, options.run_id);
  const auto started = std::chrono::steady_clock::now();
  json run = {{"run_id", options.run_id},
              {"status", to_string(RunStatus::Running)},
              {"seed", cfg.train.seed},
              {"run_seed", run_seed},
              {"config_file", loaded.source.string()},
              {"command", options.command_line},
              {"working_directory", fs::current_path().string()},
              {"build", to_json(build_info())},
              {"git_revision", build_info().git_revision},
              {"git_dirty", build_info().git_dirty},
              {"pid", static_cast<int64_t>(::getpid())},
              {"started_at", now_iso8601()},
              {"deterministic", cfg.exp.deterministic}};
  if (fs::exists(dir / "run.json")) {
    try {
      auto old = json::parse(read_text(dir / "run.json"));
      run["first_started_at"] = old.value("first_started_at", old.value("started_at", ""));
      run["sessions"] = old.value("sessions", 1) + 1;
    } catch (const json::exception&) {
      run["sessions"] = 1;
    }
  } else {
    run["first_started_at"] = run["started_at"];
    run["sessions"] = 1;
  }
  // Which GPUs the process was given (sweep --gpus, Slurm's gres): part of where the run executed.
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES")) run["cuda_visible_devices"] = visible;
  if (ctx) {
    run["distributed"] = {{"world_size", ctx->world_size()},
                          {"backend", ctx->backend()},
                          {"launcher", distributed::to_string(ctx->launch().launcher)}};
  }
  // TensorBoard logs, exported from metrics.csv in the background after every epoch (core/tensorboard.h);
  // never a reason for the run to fail.
  TensorBoardExport tensorboard(dir, dir / "tensorboard.log",
                                TensorBoardExportOptions()
                                    .enabled(main_rank && tensorboard_wanted())
                                    .python(project_python())
                                    .script(project_script("tensorboard_export.py"))
                                    .warn([&](const std::string& line) { logger->warn("{}", line); }));
  run["tensorboard"] = tensorboard.status();
  auto write_run_json = [&] {
    if (!main_rank) return;
    run["updated_at"] = now_iso8601();
    write_text_atomically(dir / "run.json", run.dump(2) + "\n");
  };

  RunOutcome outcome;
  try {
    apply_execution_settings(cfg.exp);
    const c10::Device device = ctx ? ctx->device() : resolve_device(cfg.exp.device);
    run["device"] = device.str();
    if (device.is_cuda()) run["device_name"] = "cuda";
    if (main_rank) write_text_atomically(dir / "config.json", loaded.json.dump(2) + "\n");
    write_run_json();
    logger->info("tiebreak {} (git {}), LibTorch {}; device {}; run {} seed {}", build_info().version,
                 build_info().git_revision, build_info().libtorch_version, device.str(), options.run_id,
                 run_seed);
    if (restart && previous)
      logger->info("the previous attempt ({}) ended before its first epoch was recorded: starting again",
                   to_string(*previous));

    const PrecisionPlan plan = plan_for(cfg.train.precision, cfg.train.half_compute);
    const at::ScalarType compute = plan.autocast_dtype.value_or(plan.parameter_dtype);
    if (auto missing = unsupported_ops(compute, device); !missing.empty()) {
      std::string names;
      for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
      TORCH_CHECK(false, "train.precision: ", config::to_string(cfg.train.precision), " needs ",
                  c10::toString(compute), " kernels that LibTorch ", build_info().libtorch_version,
                  " lacks on ", device.str(), ": ", names,
                  " (tiebreak does not silently up-cast; choose another precision or device)");
    }
    logger->info("precision {}", describe(plan, cfg.train.precision));

    torch::manual_seed(run_seed);
    DataRequest request;
    request.seed = run_seed;
    request.device = device;
    request.dtype = plan.parameter_dtype;
    const int64_t world_size = ctx ? ctx->world_size() : 1;
    TORCH_CHECK(cfg.data.batch_size % world_size == 0, "data.batch_size: ", cfg.data.batch_size,
                " does not split over ", world_size,
                " ranks: expected a multiple of the world size (it is the global batch, all ranks together)");
    request.shard = data::Shard{ctx ? ctx->rank() : 0, world_size};
    request.train_batch_size = cfg.data.batch_size / world_size;
    auto data = components.make_data(cfg, request);
    TORCH_CHECK(data->shard().rank == request.shard.rank && data->shard().world_size == world_size, "data '",
                cfg.data.dataset, "': the data source delivers shard ", data->shard().rank, " of ",
                data->shard().world_size, ", not the requested ", request.shard.rank, " of ", world_size,
                " (a data-parallel run needs a source that honours DataRequest::shard)");
    logger->info("data: {}{}", data->describe(),
                 ctx ? fmt::format(" on each of {} ranks, {} examples per rank and step", world_size,
                                   request.train_batch_size)
                     : "");
    Model model = components.make_model(cfg, *data, run_seed);
    TORCH_CHECK(model.module && model.forward, "model '", cfg.model.name,
                "': the factory returned no module");
    model.module->to(device, plan.parameter_dtype);
    auto optimizer = make_optimizer(cfg.train.optimizer, model.module->parameters());
    std::unique_ptr<DynamicLossScaler> scaler;
    if (plan.loss_scaling) scaler = std::make_unique<DynamicLossScaler>(cfg.train.loss_scale, device);
    CheckpointParts parts{model.module.get(), optimizer.get(), scaler.get()};

    int64_t start_epoch = 0;
    const fs::path checkpoint = dir / "checkpoint.pt";
    if (options.resume && fs::exists(checkpoint)) {
      json meta = load_checkpoint(checkpoint, parts);
      TORCH_CHECK(meta.value("run_seed", uint64_t{0}) == run_seed &&
                      meta.value("run_id", int64_t{-1}) == options.run_id,
                  checkpoint.string(), ": incompatible checkpoint: written for run ",
                  meta.value("run_id", -1), " seed ", meta.value("run_seed", uint64_t{0}), ", not run ",
                  options.run_id, " seed ", run_seed);
      start_epoch = meta.at("epoch").get<int64_t>();
      for (const auto& r : meta.at("rows")) outcome.rows.push_back(epoch_metrics_from_json(r));
      TORCH_CHECK(static_cast<int64_t>(outcome.rows.size()) == start_epoch, checkpoint.string(),
                  ": corrupt checkpoint: ", outcome.rows.size(), " metric rows for ", start_epoch, " epochs");
      logger->info("resumed from {} after epoch {}", checkpoint.string(), start_epoch);
    }
    std::unique_ptr<distributed::GradientAllReducer> reducer;
    if (ctx) {
      // Every rank must continue from the same epoch: a rank that cannot see rank 0's
      // checkpoint (run directory not on a shared filesystem) would otherwise train other batches.
      auto epoch_of_rank0 =
          torch::full({1}, start_epoch, torch::TensorOptions().dtype(torch::kLong).device(device));
      ctx->broadcast({epoch_of_rank0});
      auto mismatches = (epoch_of_rank0 != start_epoch).to(torch::kLong);
      ctx->all_reduce_sum({mismatches});
      TORCH_CHECK(mismatches.item<int64_t>() == 0, (dir / "checkpoint.pt").string(),
                  ": the ranks would resume from different epochs (this rank: ", start_epoch,
                  ", rank 0: ", epoch_of_rank0.item<int64_t>(),
                  "); --resume needs the run directory on a filesystem every rank shares");
      {
        // Rank 0's weights (initial or resumed) on every rank.
        torch::NoGradGuard no_grad;
        std::vector<torch::Tensor> state = model.module->parameters();
        for (const auto& b : model.module->buffers()) state.push_back(b);
        ctx->broadcast(state);
      }
      reducer = std::make_unique<distributed::GradientAllReducer>(
          model.module->parameters(), *ctx, static_cast<int64_t>(cfg.exp.distributed.bucket_mb * (1 << 20)));
      logger->info("data-parallel: {} via {}, gradients all-reduced in {} buckets", ctx->describe(),
                   distributed::to_string(ctx->launch().launcher), reducer->num_buckets());
    }
    {
      json seeds = {{"model_init", run_seed},
                    {"shuffle", "shuffle_seed(run_seed, epoch)"},
                    {"seeding", core::enum_name(cfg.train.seeding)}};
      run["seeds"] = seeds;
      run["model_parameters"] = [&] {
        int64_t n = 0;
        for (const auto& p : model.module->parameters()) n += p.numel();
        return n;
      }();
    }

    std::unique_ptr<zones::ZoneProbe> probe;
    if (cfg.train.zone_probe.every > 0) {
      TORCH_CHECK(!ctx, "train.zone_probe: not available in data-parallel runs (the run's gradient is ",
                  "all-reduced over the ranks, a probe's repeated backward would not be); set every = 0 or ",
                  "train on one process");
      probe = std::make_unique<zones::ZoneProbe>(zones::ZoneProbeOptions::from_config(cfg.train.zone_probe),
                                                 cfg, model, plan, device,
                                                 [&] { return components.make_model(cfg, *data, run_seed); });
      logger->info("zone probe: {} every {} steps, D{} > {:g}{}", cfg.train.zone_probe.pair,
                   cfg.train.zone_probe.every,
                   cfg.train.zone_probe.norm == zones::DiscrepancyNorm::Linf ? "∞" : "₁", probe->threshold(),
                   cfg.train.zone_probe.classify && cfg.train.precision != config::Precision::Fp64
                       ? ", classified against fp64"
                       : "");
    }

    const bool tie_stats = cfg.exp.tie_stats && !model.tie_counters.empty();
    const int64_t epochs = cfg.train.epochs;
    const double beta = cfg.nonsmooth.beta;
    // Under loss scaling a non-finite loss only skips the step and the run may recover, so it trains on as
    // the study did; in fp16/bf16/fp32/fp64 non-finite weights stay non-finite, so the run stops there.
    const bool stops_when_non_finite = !plan.loss_scaling;
    bool frozen = stops_when_non_finite && !outcome.rows.empty() && !all_finite(*model.module);
    double epoch_seconds_sum = 0;
    for (const auto& r : outcome.rows) epoch_seconds_sum += r.seconds;

    auto make_row = [&](int64_t epoch, double lr) {
      EpochMetrics row;
      row.run_id = options.run_id;
      row.epoch = epoch;
      row.beta = beta;
      row.batch_norm = cfg.model.batch_norm;
      row.precision = config::to_string(cfg.train.precision);
      row.formulation = core::enum_name(cfg.nonsmooth.formulation);
      row.optimizer = config::to_string(cfg.train.optimizer.name);
      row.lr = lr;
      return row;
    };
    // SIGINT/SIGTERM (StopOnSignals) stop the run between two steps: the partial epoch is dropped and the
    // last checkpoint is what the run keeps, so --resume sees exactly the batches it would have seen.
    auto interrupted = [&](int signal, const std::string& when) {
      const auto kept = static_cast<int64_t>(outcome.rows.size());
      return Interrupted(
          signal, fmt::format("{}: interrupted by {} {}; {}", dir.string(), signal_name(signal), when,
                              kept == 0            ? "no epoch was completed, re-running starts the run again"
                              : cfg.exp.checkpoint ? fmt::format("the checkpoint after epoch {} is kept, "
                                                                 "--resume continues from it",
                                                                 kept)
                                                   : "exp.checkpoint is false, so --resume starts again"));
    };
    // A data-parallel run stops where all ranks agree (the end of an epoch, below), never mid-epoch alone.
    auto stop_point = [&](int64_t epoch) {
      if (ctx) return;
      if (const int signal = stop_requested())
        throw interrupted(signal, fmt::format("in epoch {} of {}", epoch + 1, epochs));
    };
    auto persist = [&](int64_t epochs_done) {
      json rows = json::array();
      for (const auto& r : outcome.rows) rows.push_back(to_json(r));
      json meta = {{"epoch", epochs_done},
                   {"rows", rows},
                   {"run_id", options.run_id},
                   {"run_seed", run_seed},
                   {"optimizer", config::to_string(cfg.train.optimizer.name)},
                   {"precision", config::to_string(cfg.train.precision)}};
      if (!main_rank) return;
      if (cfg.exp.checkpoint) save_checkpoint(checkpoint, parts, meta);
      write_text_atomically(dir / "metrics.csv", format_metrics_csv(outcome.rows));
      write_text_atomically(dir / "metrics_study.csv", format_study_metrics_csv(outcome.rows));
      run["epochs_done"] = epochs_done;
      run["seconds_total"] = epoch_seconds_sum;
      tensorboard.update();
      run["tensorboard"] = tensorboard.status();
      write_run_json();
    };

    for (int64_t epoch = start_epoch; epoch < epochs && !frozen; ++epoch) {
      stop_point(epoch);
      const double lr = learning_rate_at(cfg.train.schedule, cfg.train.optimizer.lr, epoch, epochs);
      set_learning_rate(*optimizer, lr);
      const auto t0 = std::chrono::steady_clock::now();

      // Training pass.
      model.module->train();
      for (auto& t : model.tie_counters) {
        t.counter->reset();
        t.counter->set_enabled(tie_stats);
      }
      auto dopts = torch::TensorOptions().dtype(torch::kDouble).device(device);
      // The study's epoch loss is the mean of the mini-batch losses (a short last batch weighs as much as a
      // full one); accuracy counts examples.
      auto loss_sum = torch::zeros({}, dopts);
      auto correct = torch::zeros({}, dopts.dtype(torch::kLong));
      int64_t seen = 0;
      int64_t steps = 0;
      const int64_t train_size = data->train_size();
      progress.restart();
      if (probe) probe->start_epoch();
      data->for_each_train_batch(epoch, [&](const Batch& batch) {
        stop_point(epoch);
        const auto step =
            train_step(model, *optimizer, plan, device, batch, scaler.get(), reducer.get(), probe.get());
        const int64_t n = step.targets.size(0);
        loss_sum += step.loss.to(torch::kDouble);
        correct += step.logits.argmax(1).eq(step.targets).sum();
        seen += n;
        ++steps;
        if (progress.due()) {
          const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const double done = std::min(1.0, static_cast<double>(seen) / static_cast<double>(train_size));
          // The run's ETA: the rest of this epoch at its pace, then each remaining epoch as long as the
          // finished ones took on average (this one's projection before the first has finished).
          const double this_epoch = elapsed / std::max(done, 1e-9);
          const double per_epoch = outcome.rows.empty()
                                       ? this_epoch
                                       : epoch_seconds_sum / static_cast<double>(outcome.rows.size());
          const double eta = this_epoch - elapsed + per_epoch * static_cast<double>(epochs - epoch - 1);
          const int64_t batch_size = std::max<int64_t>(1, seen / std::max<int64_t>(1, steps));
          progress.tick(
              fmt::format("epoch {}/{} step {}/{} {:3.0f}%  loss {:.4f}  acc {:.2f}%  {:.0f} img/s  ETA {}",
                          epoch + 1, epochs, steps, (train_size + batch_size - 1) / batch_size, 100.0 * done,
                          loss_sum.item<double>() / steps, 100.0 * correct.item<int64_t>() / seen,
                          seen / std::max(elapsed, 1e-9), format_duration(eta)));
        }
      });
      const auto train_totals = sum_over_ranks(
          ctx, {loss_sum, correct, torch::full({}, seen, dopts), torch::full({}, steps, dopts)});
      const double seen_total = train_totals[2];
      TORCH_CHECK(seen_total > 0, "data '", cfg.data.dataset, "': the training set produced no batches");
      const double train_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      EpochMetrics row = make_row(epoch, lr);
      row.train_loss = train_totals[0] / train_totals[3];
      row.train_accuracy = train_totals[1] / seen_total;
      if (probe) row.zone_probe = probe->finish_epoch();
      if (tie_stats) {
        std::vector<torch::Tensor> counts;
        for (auto& t : model.tie_counters) {
          const auto stats = t.counter->stats();
          counts.push_back(torch::full({}, static_cast<double>(stats.ties), dopts));
          counts.push_back(torch::full({}, static_cast<double>(stats.points), dopts));
        }
        const auto totals = sum_over_ranks(ctx, counts);
        for (size_t i = 0; i < model.tie_counters.size(); ++i) {
          const double points = totals[2 * i + 1];
          row.ties.emplace_back(model.tie_counters[i].name, points == 0 ? 0.0 : totals[2 * i] / points);
        }
      }
      for (auto& t : model.tie_counters) t.counter->set_enabled(false);

      // Evaluation pass: in the parameters' dtype, without autocast, as the study's test() ran (so mixed
      // precision evaluates in fp32).
      model.module->eval();
      {
        torch::NoGradGuard no_grad;
        if (ctx) {
          // Per-rank BatchNorm statistics differ: every rank evaluates with rank 0's, the ones its checkpoint
          // keeps.
          auto buffers = model.module->buffers();
          if (!buffers.empty()) ctx->broadcast(buffers);
        }
        const auto sums = evaluation_sums(model, *data, plan, device, [&] { stop_point(epoch); });
        const auto test_totals =
            sum_over_ranks(ctx, {sums.loss_sum, sums.correct, torch::full({}, sums.examples, dopts),
                                 torch::full({}, sums.batches, dopts)});
        TORCH_CHECK(test_totals[2] > 0, "data '", cfg.data.dataset, "': the test set produced no batches");
        row.test_loss = test_totals[0] / test_totals[3];
        row.test_accuracy = test_totals[1] / test_totals[2];
      }
      row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      epoch_seconds_sum += row.seconds;
      const bool weights_finite = all_finite(*model.module);
      row.diverged = !std::isfinite(row.train_loss) || !weights_finite;
      frozen = stops_when_non_finite && !weights_finite;
      outcome.rows.push_back(row);

      const double per_epoch = epoch_seconds_sum / static_cast<double>(outcome.rows.size());
      progress.line(fmt::format(
          "epoch {}/{}  lr {:.3g}  train loss {:.4f} acc {:.2f}%  test loss {:.4f} acc {:.2f}%  "
          "{:.0f} img/s  "
          "{:.1f}s  ETA {}{}{}",
          epoch + 1, epochs, lr, row.train_loss, 100 * row.train_accuracy, row.test_loss,
          100 * row.test_accuracy, seen / std::max(train_seconds, 1e-9), row.seconds,
          format_duration(per_epoch * static_cast<double>(epochs - epoch - 1)),
          row.zone_probe ? fmt::format("  zone volume {:.1f}% [{:.1f}, {:.1f}] of {} probes",
                                       100 * row.zone_probe->volume(), 100 * row.zone_probe->volume_low,
                                       100 * row.zone_probe->volume_high, row.zone_probe->finite())
                         : "",
          row.diverged ? (frozen ? "  DIVERGED" : "  NON-FINITE LOSS") : ""));

      if (frozen) {
        // Non-finite weights cannot change any more: the remaining epochs are filled, not trained, so that a
        // diverged run keeps its place in every curve as in the study. A filled row has NaN training loss
        // and accuracy and the test metrics of the frozen model, which are the ones just measured.
        logger->warn("weights are not finite after epoch {}: run diverged; filling the remaining {} epochs",
                     epoch, epochs - epoch - 1);
        for (int64_t rest = epoch + 1; rest < epochs; ++rest) {
          EpochMetrics filler =
              make_row(rest, learning_rate_at(cfg.train.schedule, cfg.train.optimizer.lr, rest, epochs));
          filler.train_loss = kNaN;
          filler.train_accuracy = kNaN;
          filler.test_loss = row.test_loss;
          filler.test_accuracy = row.test_accuracy;
          filler.seconds = 0;
          filler.diverged = true;
          filler.filled = true;
          outcome.rows.push_back(filler);
        }
        persist(epochs);
        break;
      }
      if (row.diverged) {
        logger->warn("training loss is not finite at epoch {}{}", epoch,
                     scaler ? fmt::format(" (the loss scaler skipped those steps, {} so far); training on",
                                          scaler->skipped_steps())
                            : "; training on");
      }
      persist(epoch + 1);
      if (ctx) {
        const int local = stop_requested();
        const auto asked = sum_over_ranks(ctx, {torch::full({}, local != 0 ? 1.0 : 0.0, dopts)});
        if (asked[0] > 0 && epoch + 1 < epochs)
          throw interrupted(local != 0 ? local : SIGTERM,
                            fmt::format("after epoch {} of {}", epoch + 1, epochs));
      }
      const bool go_on = !options.on_epoch || options.on_epoch(outcome.rows.back());
      if ((!go_on || cfg.train.stop_after_epoch == epoch + 1) && epoch + 1 < epochs) {
        outcome.status = RunStatus::Stopped;
        run["status"] = to_string(outcome.status);
        run["tensorboard"] = tensorboard.finish();
        write_run_json();
        logger->info("stopped after {} epochs ({}); --resume continues", epoch + 1,
                     go_on ? "train.stop_after_epoch" : "asked by the caller");
        return outcome;
      }
    }

    // A run is diverged when it ends non-finite: frozen, or (training on under loss scaling) with a
    // non-finite last epoch.
    const bool diverged = !outcome.rows.empty() && outcome.rows.back().diverged;
    outcome.status = diverged ? RunStatus::Diverged : RunStatus::Finished;
    run["status"] = to_string(outcome.status);
    run["finished_at"] = now_iso8601();
    run["wall_seconds_last_session"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!outcome.rows.empty()) {
      run["final_test_accuracy"] = outcome.rows.back().test_accuracy;
      double best = 0;
      for (const auto& r : outcome.rows) best = std::max(best, r.test_accuracy);
      run["best_test_accuracy"] = best;
    }
    run["tensorboard"] = tensorboard.finish();
    write_run_json();
    logger->info("run {} {}", options.run_id, to_string(outcome.status));
    return outcome;
  } catch (const Interrupted& e) {
    progress.clear();
    run["status"] = to_string(RunStatus::Interrupted);
    run["interrupted_by"] = signal_name(e.signal());
    run["interrupted_at"] = now_iso8601();
    try {
      write_run_json();
      logger->warn("{}", e.what());
    } catch (...) {
      // The interruption matters more than a failure to record it.
    }
    throw;
  } catch (const std::exception& e) {
    progress.clear();
    std::string what = e.what();
    if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) what = c10->what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    if (ctx && !dynamic_cast<const distributed::DistributedError*>(&e)) {
      // A collective that failed inside backward (the gradient all-reduce) arrives as the backend's error.
      const bool communication = dynamic_cast<const c10::DistError*>(&e) != nullptr ||
                                 what.find("gloo") != std::string::npos ||
                                 what.find("NCCL") != std::string::npos;
      what =
          ctx->describe() + ": " +
          (communication ? fmt::format("gradient all-reduce failed (a peer rank died, or waited longer than "
                                       "exp.distributed.timeout_seconds = {}): ",
                                       cfg.exp.distributed.timeout_seconds)
                         : "") +
          what;
    }
    run["status"] = to_string(RunStatus::Failed);
    run["error"] = what;
    try {
      write_run_json();
      logger->error("run failed: {}", what);
    } catch (...) {
      // The original error matters more than a failure to record it.
    }
    if (ctx) throw std::runtime_error(what);
    throw;
  }
}

void check_runnable(const config::ExperimentConfig& config, const Components& components) {
  DataRequest request;  // the CPU, one process: what the config names, not where it will run
  request.train_batch_size = config.data.batch_size;
  auto data = components.make_data(config, request);
  TORCH_CHECK(data, "data.dataset: ", config.data.dataset, ": the data factory returned no dataset");
  try {
    Model model = components.make_model(config, *data, 0);
    TORCH_CHECK(model.module && model.forward, "the factory returned no module");
    // One image through the network in float: a model whose layers do not fit the images (a pooling window
    // larger than what is left of them) fails here, not at the first step.
    torch::NoGradGuard no_grad;
    model.module->eval();
    std::vector<int64_t> shape{1};
    for (auto d : data->input_shape()) shape.push_back(d);
    model.forward(torch::zeros(shape));
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) what = c10->what_without_backtrace();
    std::string shape;
    for (auto d : data->input_shape()) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    TORCH_CHECK(false, "model.name: ", config.model.name, " cannot train on data.dataset ",
                config.data.dataset, " (", shape, " images): ", what.substr(0, what.find('\n')));
  }
}

std::vector<RunOutcome> train_experiment(const config::LoadedConfig& config, const fs::path& experiment_dir,
                                         bool resume, const Components& components,
                                         std::optional<int64_t> only_run, const std::string& command_line,
                                         std::shared_ptr<distributed::DistributedContext> distributed) {
  // Everything the config names is checked before anything is created: a bad name or missing data leaves
  // no directory behind to block the corrected config.
  check_runnable(config.config, components);
  if (!distributed || distributed->is_main()) {
    fs::create_directories(experiment_dir);
    write_text_atomically(experiment_dir / "config.json", config.json.dump(2) + "\n");
  }
  std::vector<RunOutcome> outcomes;
  for (int64_t id = 0; id < config.config.train.runs; ++id) {
    if (only_run && *only_run != id) continue;
    RunOptions options;
    options.run_dir = run_directory(experiment_dir, id);
    options.run_id = id;
    options.resume = resume;
    options.command_line = command_line;
    options.distributed = distributed;
    outcomes.push_back(train_run(config, options, components));
  }
  return outcomes;
}

std::shared_ptr<distributed::DistributedContext> join_distributed_run(const config::ExperimentConfig& config,
                                                                      const distributed::LaunchInfo& launch) {
  TORCH_CHECK(launch.distributed(), "join_distributed_run: expected a torchrun or srun launch, got none");
  c10::Device device = resolve_device(config.exp.device);
  if (device.is_cuda() && (config.exp.device == "auto" || config.exp.device == "cuda")) {
    // One visible GPU: the launcher already gave this process its own (srun --gpus-per-task=1).
    const int64_t visible = static_cast<int64_t>(torch::cuda::device_count());
    TORCH_CHECK(visible == 1 || launch.local_rank < visible, "LOCAL_RANK=", launch.local_rank,
                ": expected a CUDA device per process on this node, but only ", visible, " are visible");
    device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(visible == 1 ? 0 : launch.local_rank));
  }
  const auto timeout = std::chrono::milliseconds(
      static_cast<int64_t>(std::llround(config.exp.distributed.timeout_seconds * 1000.0)));
  auto ctx = std::make_shared<distributed::DistributedContext>(
      launch, device,
      distributed::ProcessGroupOptions()
          .backend(core::enum_name(config.exp.distributed.backend))
          .timeout(timeout));
  // Rank-aware logging: the library's own messages (dataset loading, ...) once, from rank 0.
  if (!ctx->is_main()) spdlog::set_level(std::max(spdlog::get_level(), spdlog::level::warn));
  return ctx;
}

}  // namespace tiebreak::train
