#include "tiebreak/train/trainer.h"

#include "train/progress.h"

#include "tiebreak/config/options.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/build_info.h"
#include "tiebreak/core/run_lock.h"
#include "tiebreak/core/text_file.h"
#include "tiebreak/data/sampler.h"
#include "tiebreak/distributed/gradient_reducer.h"
#include "tiebreak/distributed/sync_batch_norm.h"
#include "tiebreak/train/checkpoint.h"
#include "tiebreak/train/engine.h"
#include "tiebreak/train/interrupt.h"
#include "tiebreak/train/optimizer.h"
#include "tiebreak/train/precision.h"
#include "tiebreak/train/run_record.h"
#include "tiebreak/train/step.h"
#include "tiebreak/zones/probe.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <limits>

namespace tiebreak::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

/// The network being trained with what its checkpoint holds besides the weights.
struct Trainee {
  Model model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<DynamicLossScaler> scaler;
  CheckpointParts parts() const { return {model.module.get(), optimizer.get(), scaler.get()}; }
};

/// This rank's data: data.batch_size / world_size examples per step; the engine reads its shard of every
/// epoch (rank_shard).
std::shared_ptr<data::Dataset> make_run_data(const config::ExperimentConfig& cfg,
                                             const Components& components, uint64_t seed, c10::Device device,
                                             const PrecisionPlan& plan, distributed::DistributedContext* ctx,
                                             spdlog::logger& log) {
  const int64_t world_size = ctx ? ctx->world_size() : 1;
  TORCH_CHECK(cfg.data.batch_size % world_size == 0, "data.batch_size: ", cfg.data.batch_size,
              " does not split over ", world_size,
              " ranks: expected a multiple of the world size (it is the global "
              "batch, all ranks together)");
  const int64_t rank_batch = cfg.data.batch_size / world_size;
  auto data = components.make_data(
      cfg, config::to_data_options(cfg, seed, device, plan.parameter_dtype).train_batch_size(rank_batch));
  TORCH_CHECK(data, "data.dataset: ", cfg.data.dataset, ": the data factory returned no dataset");
  log.info(
      "data: {}{}", data->describe(rank_shard(ctx)),
      ctx ? fmt::format(" on each of {} ranks, {} examples per rank and step", world_size, rank_batch) : "");
  return data;
}

Trainee make_trainee(const config::ExperimentConfig& cfg, const Components& components,
                     const data::Dataset& data, uint64_t seed, c10::Device device,
                     const PrecisionPlan& plan) {
  Trainee t;
  t.model = components.make_model(cfg, data, seed);
  TORCH_CHECK(t.model.module && t.model.forward, "model '", cfg.model.name,
              "': the factory returned no module");
  t.model.module->to(device, plan.parameter_dtype);
  t.optimizer = make_optimizer(cfg.train.optimizer, t.model.module->parameters());
  if (plan.loss_scaling) t.scaler = std::make_unique<DynamicLossScaler>(cfg.train.loss_scale, device);
  return t;
}

/// Restores `t` from the run's checkpoint, when there is one, into `rows`; returns the epochs it holds.
int64_t resume_from(const fs::path& checkpoint, Trainee& t, int64_t run_id, uint64_t seed,
                    std::vector<EpochMetrics>& rows, spdlog::logger& log) {
  if (!fs::exists(checkpoint)) return 0;
  json meta = load_checkpoint(checkpoint, t.parts());
  TORCH_CHECK(meta.value("run_seed", uint64_t{0}) == seed && meta.value("run_id", int64_t{-1}) == run_id,
              checkpoint.string(), ": incompatible checkpoint: written for run ", meta.value("run_id", -1),
              " seed ", meta.value("run_seed", uint64_t{0}), ", not run ", run_id, " seed ", seed);
  const int64_t epoch = meta.at("epoch").get<int64_t>();
  for (const auto& r : meta.at("rows")) rows.push_back(epoch_metrics_from_json(r));
  TORCH_CHECK(static_cast<int64_t>(rows.size()) == epoch, checkpoint.string(),
              ": corrupt checkpoint: ", rows.size(), " metric rows for ", epoch, " epochs");
  log.info("resumed from {} after epoch {}", checkpoint.string(), epoch);
  return epoch;
}

/// Rank replication: every rank continues from rank 0's epoch with rank 0's weights and buffers, and
/// averages its gradients with the others' during backward (the returned reducer); with
/// exp.distributed.sync_batch_norm its BatchNorm layers normalize over the global batch.
std::unique_ptr<distributed::GradientAllReducer> replicate_across_ranks(
    const std::shared_ptr<distributed::DistributedContext>& shared_ctx, const Trainee& t, int64_t start_epoch,
    const fs::path& checkpoint, const config::DistributedConfig& settings, spdlog::logger& log) {
  auto& ctx = *shared_ctx;
  // A rank that cannot see rank 0's checkpoint (run directory not on a shared filesystem) would
  // otherwise train other batches.
  auto epoch_of_rank0 =
      torch::full({1}, start_epoch, torch::TensorOptions().dtype(torch::kLong).device(ctx.device()));
  ctx.broadcast({epoch_of_rank0});
  auto mismatches = (epoch_of_rank0 != start_epoch).to(torch::kLong);
  ctx.all_reduce_sum({mismatches});
  TORCH_CHECK(mismatches.item<int64_t>() == 0, checkpoint.string(),
              ": the ranks would resume from different epochs (this rank: ", start_epoch,
              ", rank 0: ", epoch_of_rank0.item<int64_t>(),
              "); resuming needs the run directory on a filesystem every rank shares");
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> state = t.model.module->parameters();
    for (const auto& b : t.model.module->buffers()) state.push_back(b);
    ctx.broadcast(state);
  }
  if (settings.sync_batch_norm) {
    const int64_t layers = distributed::convert_sync_batch_norm(*t.model.module, shared_ctx);
    log.info("exp.distributed.sync_batch_norm: {} BatchNorm layers normalize over the global batch", layers);
  }
  auto reducer = std::make_unique<distributed::GradientAllReducer>(
      t.model.module->parameters(), ctx, static_cast<int64_t>(settings.bucket_mb * (1 << 20)));
  log.info("data-parallel: {} via {}, gradients all-reduced in {} buckets", ctx.describe(),
           distributed::to_string(ctx.launch().launcher), reducer->num_buckets());
  return reducer;
}

std::unique_ptr<zones::ZoneProbe> make_probe(const config::ExperimentConfig& cfg,
                                             const Components& components, const data::Dataset& data,
                                             uint64_t seed, Model& model, const PrecisionPlan& plan,
                                             c10::Device device, const distributed::DistributedContext* ctx,
                                             spdlog::logger& log) {
  if (cfg.train.zone_probe.every <= 0) return nullptr;
  TORCH_CHECK(!ctx,
              "train.zone_probe: not available in data-parallel runs (the "
              "run's gradient is ",
              "all-reduced over the ranks, a probe's repeated backward would "
              "not be); set every = 0 or ",
              "train on one process");
  auto probe = std::make_unique<zones::ZoneProbe>(zones::ZoneProbeOptions::from_config(cfg.train.zone_probe),
                                                  cfg, model, plan, device,
                                                  [&] { return components.make_model(cfg, data, seed); });
  log.info("zone probe: {} every {} steps, D{} > {:g}{}", cfg.train.zone_probe.pair,
           cfg.train.zone_probe.every, cfg.train.zone_probe.norm == zones::DiscrepancyNorm::Linf ? "∞" : "₁",
           probe->threshold(),
           cfg.train.zone_probe.classify && cfg.train.precision != config::Precision::Fp64
               ? ", classified against fp64"
               : "");
  return probe;
}

/// A metrics row of epoch `epoch` (0-based) at learning rate `lr`, the config's columns filled in.
EpochMetrics row_for(const config::ExperimentConfig& cfg, int64_t run_id, int64_t epoch, double lr) {
  EpochMetrics row;
  row.run_id = run_id;
  row.epoch = epoch;
  row.beta = cfg.nonsmooth.beta;
  row.batch_norm = cfg.model.batch_norm;
  row.precision = config::to_string(cfg.train.precision);
  row.formulation = core::enum_name(cfg.nonsmooth.formulation);
  row.optimizer = config::to_string(cfg.train.optimizer.name);
  row.lr = lr;
  return row;
}

/// Non-finite weights cannot change any more: the epochs after `last` are filled, not trained, so that a
/// diverged run keeps its place in every curve as in the study. A filled row has NaN training loss and
/// accuracy and the test metrics of the frozen model, which are `last`'s.
void fill_frozen(const config::ExperimentConfig& cfg, int64_t run_id, std::vector<EpochMetrics>& rows) {
  const EpochMetrics last = rows.back();
  const int64_t epochs = cfg.train.epochs;
  for (int64_t rest = last.epoch + 1; rest < epochs; ++rest) {
    EpochMetrics filler = row_for(cfg, run_id, rest,
                                  learning_rate_at(cfg.train.schedule, cfg.train.optimizer.lr, rest, epochs));
    filler.train_loss = kNaN;
    filler.train_accuracy = kNaN;
    filler.test_loss = last.test_loss;
    filler.test_accuracy = last.test_accuracy;
    filler.seconds = 0;
    filler.diverged = true;
    filler.filled = true;
    rows.push_back(filler);
  }
}

/// The one-line error a failed run records and rethrows: with `ctx`, prefixed with the rank, and saying
/// when a collective failed.
std::string describe_failure(const std::exception& e, const distributed::DistributedContext* ctx,
                             const config::ExperimentConfig& cfg) {
  std::string what = e.what();
  if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) what = c10->what_without_backtrace();
  what = what.substr(0, what.find('\n'));
  if (!ctx || dynamic_cast<const distributed::DistributedError*>(&e)) return what;
  // A collective that failed inside backward (the gradient all-reduce) arrives as the backend's error.
  const bool communication = dynamic_cast<const c10::DistError*>(&e) != nullptr ||
                             what.find("gloo") != std::string::npos || what.find("NCCL") != std::string::npos;
  return ctx->describe() + ": " +
         (communication ? fmt::format("gradient all-reduce failed (a peer rank "
                                      "died, or waited longer than "
                                      "exp.distributed.timeout_seconds = {}): ",
                                      cfg.exp.distributed.timeout_seconds)
                        : "") +
         what;
}

/// Logs `text` while an error is being handled: a failure to log must not replace it.
void log_quietly(spdlog::logger& log, spdlog::level::level_enum level, const std::string& text) noexcept {
  try {
    log.log(level, text);
  } catch (...) {
    // The error being handled matters more.
  }
}

/// Whether any rank was asked to stop (SIGINT/SIGTERM): the signal, else 0. Every rank stops after the
/// same epoch.
int stop_requested_anywhere(distributed::DistributedContext& ctx) {
  const int local = stop_requested();
  auto asked =
      torch::full({}, local != 0 ? 1.0 : 0.0, torch::TensorOptions(torch::kDouble).device(ctx.device()));
  ctx.all_reduce_sum({asked});
  return asked.item<double>() > 0 ? (local != 0 ? local : SIGTERM) : 0;
}

/// SIGINT/SIGTERM (StopOnSignals) stop a run between two steps: the partial epoch is dropped and the last
/// checkpoint is what the run keeps, so --resume sees exactly the batches it would have seen.
Interrupted interruption(const fs::path& dir, const config::ExperimentConfig& cfg, int signal,
                         const std::string& when, int64_t epochs_kept) {
  return Interrupted(
      signal,
      fmt::format("{}: interrupted by {} {}; {}", dir.string(), signal_name(signal), when,
                  epochs_kept == 0 ? "no epoch was completed, re-running starts the run again"
                  : cfg.exp.checkpoint
                      ? fmt::format("the checkpoint after epoch {} is kept, resuming continues "
                                    "from it",
                                    epochs_kept)
                      : "exp.checkpoint is false, so resuming starts again"),
      epochs_kept == 0 ? std::vector<core::Setting>{} : std::vector<core::Setting>{core::Setting::Resume});
}

/// What a run trains with once it is set up: the device and precision, its data, the network (resumed from
/// the checkpoint when there is one), the gradient all-reduce across ranks and the zone probe.
struct RunSetup {
  c10::Device device = c10::kCPU;
  PrecisionPlan plan;
  std::shared_ptr<data::Dataset> data;
  Trainee trainee;
  int64_t start_epoch = 0;
  std::unique_ptr<distributed::GradientAllReducer> reducer;
  std::unique_ptr<zones::ZoneProbe> probe;
};

/// Sets `s` up in place (the zone probe keeps a reference to its network, which must not move).
void set_up(RunSetup& s, const config::LoadedConfig& loaded, const RunOptions& options,
            const Components& components, uint64_t seed, RunRecord& record, std::vector<EpochMetrics>& rows,
            spdlog::logger& log) {
  const auto& cfg = loaded.config;
  distributed::DistributedContext* ctx = options.distributed.get();
  apply_execution_settings(cfg.exp);
  s.device = ctx ? ctx->device() : resolve_device(cfg.exp.device);
  record.start(s.device);
  // TensorBoard logs, exported from metrics.csv in the background after every epoch; never a reason for
  // the run to fail.
  record.export_tensorboard([&log](const std::string& line) { log.warn("{}", line); });
  log.info("tiebreak {} (git {}), LibTorch {}; device {}; run {} seed {}", build_info().version,
           build_info().git_revision, build_info().libtorch_version, s.device.str(), options.run_id, seed);
  if (auto previous = record.restarted_from())
    log.info(
        "the previous attempt ({}) ended before its first epoch was "
        "recorded: starting again",
        to_string(*previous));
  s.plan = plan_for(cfg.train.precision, cfg.train.half_compute);
  check_precision_kernels(s.plan, cfg.train.precision, s.device);
  log.info("precision {}", describe(s.plan, cfg.train.precision));
  // train.half_compute=auto depends on the CPU: the record says what this run computed with.
  record.set("precision_plan", describe(s.plan, cfg.train.precision));

  torch::manual_seed(seed);
  s.data = make_run_data(cfg, components, seed, s.device, s.plan, ctx, log);
  s.trainee = make_trainee(cfg, components, *s.data, seed, s.device, s.plan);
  if (options.resume)
    s.start_epoch = resume_from(record.checkpoint(), s.trainee, options.run_id, seed, rows, log);
  if (ctx)
    s.reducer = replicate_across_ranks(options.distributed, s.trainee, s.start_epoch, record.checkpoint(),
                                       cfg.exp.distributed, log);
  record.set("seeds", {{"model_init", seed},
                       {"shuffle", s.data->generator()},
                       {"seeding", core::enum_name(cfg.train.seeding)}});
  int64_t parameters = 0;
  for (const auto& p : s.trainee.model.module->parameters()) parameters += p.numel();
  record.set("model_parameters", parameters);
  s.probe = make_probe(cfg, components, *s.data, seed, s.trainee.model, s.plan, s.device, ctx, log);
}

/// Epoch `epoch` of the run: training pass, then the test pass in the parameters' dtype without autocast (as
/// the study's test() ran), as one metrics row. `stop_point` runs before every batch.
EpochMetrics run_epoch(RunSetup& s, const config::ExperimentConfig& cfg, int64_t run_id, int64_t epoch,
                       distributed::DistributedContext* ctx, detail::RunProgress& progress,
                       const std::function<void()>& stop_point) {
  const double lr = learning_rate_at(cfg.train.schedule, cfg.train.optimizer.lr, epoch, cfg.train.epochs);
  set_learning_rate(*s.trainee.optimizer, lr);
  const auto t0 = std::chrono::steady_clock::now();
  progress.start_epoch(epoch, s.data->num_examples(data::Split::Train, rank_shard(ctx)));
  if (s.probe) s.probe->start_epoch();
  TrainEpochHooks hooks;
  hooks.scaler = s.trainee.scaler.get();
  hooks.reducer = s.reducer.get();
  hooks.probe = s.probe.get();
  hooks.count_ties = cfg.exp.tie_stats && !s.trainee.model.tie_counters.empty();
  hooks.before_step = stop_point;
  hooks.after_step = [&](const EpochMeter& meter) { progress.step(meter); };
  const EpochResult trained =
      train_epoch(s.trainee.model, *s.trainee.optimizer, s.plan, s.device, *s.data, epoch, ctx, hooks);
  TORCH_CHECK(trained.examples > 0, "data '", cfg.data.dataset, "': the training set produced no batches");
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EvaluateHooks eval_hooks;
  eval_hooks.before_batch = stop_point;
  const EpochResult tested = evaluate(s.trainee.model, *s.data, s.plan, s.device, ctx, eval_hooks);
  TORCH_CHECK(tested.examples > 0, "data '", cfg.data.dataset, "': the test set produced no batches");

  EpochMetrics row = row_for(cfg, run_id, epoch, lr);
  row.train_loss = trained.loss;
  row.train_accuracy = trained.accuracy;
  row.ties = trained.ties;
  if (s.probe) row.zone_probe = s.probe->finish_epoch();
  row.test_loss = tested.loss;
  row.test_accuracy = tested.accuracy;
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool weights_finite = all_finite(*s.trainee.model.module);
  row.diverged = !std::isfinite(row.train_loss) || !weights_finite;
  progress.epoch_done(row, trained.examples, train_seconds,
                      /*frozen=*/!s.plan.loss_scaling && !weights_finite);
  return row;
}

}  // namespace

uint64_t run_seed(const config::LoadedConfig& config, int64_t run_id) {
  const auto& train = config.config.train;
  if (train.seeding == config::Seeding::Paired) return train.seed + static_cast<uint64_t>(run_id);
  // Everything the run computes except how long it trains (a longer run of a configuration starts as the
  // shorter one did): json dumps object keys sorted, so the text, and the seed, are reproducible.
  json identity = run_identity(config.json);
  identity["train"].erase("epochs");
  identity["train"].erase("runs");
  const uint64_t h = data::splitmix64(fnv1a(identity.dump()) ^ data::splitmix64(train.seed));
  // Below 2^63: the seed travels through JSON and torch::manual_seed as a non-negative integer.
  return data::splitmix64(h + static_cast<uint64_t>(run_id)) >> 1;
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
              " requested but CUDA is not available here (no driver or no "
              "device); use cpu or auto");
  TORCH_CHECK(d.index() < static_cast<int>(torch::cuda::device_count()), "exp.device: ", device,
              " requested but only ", torch::cuda::device_count(), " CUDA device(s) exist");
  return d;
}

RunOutcome train_run(const config::LoadedConfig& loaded, const RunOptions& options,
                     const Components& components) {
  const auto& cfg = loaded.config;
  distributed::DistributedContext* ctx = options.distributed.get();
  const uint64_t seed = run_seed(loaded, options.run_id);
  RunRecord record(loaded, options.run_dir, options.run_id, options.resume, options.command_line, seed, ctx);
  if (record.completed()) return *record.completed();
  const int64_t epochs = cfg.train.epochs;
  detail::RunProgress progress(options.run_dir / "train.log", cfg.exp, options.progress, options.run_id,
                               epochs, ctx);
  auto& log = progress.log();
  RunOutcome outcome;
  try {
    RunSetup s;
    set_up(s, loaded, options, components, seed, record, outcome.rows, log);
    progress.resumed(outcome.rows);
    auto persist = [&](int64_t epochs_done) {
      json rows = json::array();
      for (const auto& r : outcome.rows) rows.push_back(to_json(r));
      const json meta = {{"epoch", epochs_done},
                         {"rows", rows},
                         {"run_id", options.run_id},
                         {"run_seed", seed},
                         {"optimizer", config::to_string(cfg.train.optimizer.name)},
                         {"precision", config::to_string(cfg.train.precision)}};
      record.persist_epochs(outcome.rows, epochs_done,
                            [&](const fs::path& file) { save_checkpoint(file, s.trainee.parts(), meta); });
    };
    // Under loss scaling a non-finite loss only skips the step and the run may recover, so it trains on as
    // the study did; in fp16/bf16/fp32/fp64 non-finite weights stay non-finite, so the run stops there.
    const bool stops_when_non_finite = !s.plan.loss_scaling;
    bool frozen = stops_when_non_finite && !outcome.rows.empty() && !all_finite(*s.trainee.model.module);
    for (int64_t epoch = s.start_epoch; epoch < epochs && !frozen; ++epoch) {
      // A data-parallel run stops where all ranks agree (the end of an epoch), never mid-epoch alone.
      auto stop_point = [&] {
        if (const int signal = ctx ? 0 : stop_requested())
          throw interruption(options.run_dir, cfg, signal,
                             fmt::format("in epoch {} of {}", epoch + 1, epochs),
                             static_cast<int64_t>(outcome.rows.size()));
      };
      stop_point();
      outcome.rows.push_back(run_epoch(s, cfg, options.run_id, epoch, ctx, progress, stop_point));
      frozen = stops_when_non_finite && outcome.rows.back().diverged && !all_finite(*s.trainee.model.module);
      if (frozen) {
        log.warn(
            "weights are not finite after epoch {}: run diverged; filling "
            "the remaining {} epochs",
            epoch, epochs - epoch - 1);
        fill_frozen(cfg, options.run_id, outcome.rows);
        persist(epochs);
        break;
      }
      if (outcome.rows.back().diverged)
        log.warn("training loss is not finite at epoch {}{}", epoch,
                 s.trainee.scaler ? fmt::format(" (the loss scaler skipped those steps, {} "
                                                "so far); training on",
                                                s.trainee.scaler->skipped_steps())
                                  : "; training on");
      persist(epoch + 1);
      if (ctx && epoch + 1 < epochs)
        if (const int signal = stop_requested_anywhere(*ctx))
          throw interruption(options.run_dir, cfg, signal,
                             fmt::format("after epoch {} of {}", epoch + 1, epochs),
                             static_cast<int64_t>(outcome.rows.size()));
      const bool go_on = !options.on_epoch || options.on_epoch(outcome.rows.back());
      if ((!go_on || cfg.train.stop_after_epoch == epoch + 1) && epoch + 1 < epochs) {
        outcome.status = RunStatus::Stopped;
        record.stop();
        log.info("stopped after {} epochs ({}); resuming continues", epoch + 1,
                 go_on ? "train.stop_after_epoch" : "asked by the caller");
        return outcome;
      }
    }
    record.finish(outcome);
    log.info("run {} {}", options.run_id, to_string(outcome.status));
    return outcome;
  } catch (const Interrupted& e) {
    progress.clear();
    record.interrupt(e.signal());
    log_quietly(log, spdlog::level::warn, e.what());
    throw;
  } catch (const std::exception& e) {
    progress.clear();
    const std::string what = describe_failure(e, ctx, cfg);
    record.fail(what);
    log_quietly(log, spdlog::level::err, "run failed: " + what);
    if (ctx) throw std::runtime_error(what);
    throw;
  }
}

void check_runnable(const config::ExperimentConfig& config, const Components& components) {
  // The CPU, one process: what the config names, not where it will run.
  auto data = components.make_data(config, config::to_data_options(config));
  TORCH_CHECK(data, "data.dataset: ", config.data.dataset, ": the data factory returned no dataset");
  try {
    Model model = components.make_model(config, *data, 0);
    TORCH_CHECK(model.module && model.forward, "the factory returned no module");
    // One image through the network in float: a model whose layers do not fit the images (a pooling window
    // larger than what is left of them) fails here, not at the first step.
    torch::NoGradGuard no_grad;
    model.module->eval();
    const auto image = data->image_shape();
    model.forward(torch::zeros({1, image.channels, image.height, image.width}));
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto* c10 = dynamic_cast<const c10::Error*>(&e)) what = c10->what_without_backtrace();
    const auto image = data->image_shape();
    TORCH_CHECK(false, "model.name: ", config.model.name, " cannot train on data.dataset ",
                config.data.dataset, " (", image.channels, "x", image.height, "x", image.width,
                " images): ", what.substr(0, what.find('\n')));
  }
}

std::vector<RunOutcome> train_experiment(const config::LoadedConfig& config, const fs::path& experiment_dir,
                                         bool resume, const Components& components,
                                         std::optional<int64_t> only_run, const std::string& command_line,
                                         std::shared_ptr<distributed::DistributedContext> distributed,
                                         bool progress) {
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
    options.progress = progress;
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
