#include "tiebreak/train/engine.h"

#include "tiebreak/distributed/process_group.h"

#include <limits>

namespace tiebreak::train {

EpochMeter::EpochMeter(c10::Device device) {
  auto dopts = torch::TensorOptions().dtype(torch::kDouble).device(device);
  loss_sum_ = torch::zeros({}, dopts);
  correct_ = torch::zeros({}, dopts.dtype(torch::kLong));
}

void EpochMeter::add(const StepOutput& step) {
  loss_sum_ += step.loss.detach().to(torch::kDouble);
  correct_ += step.logits.detach().argmax(1).eq(step.targets).sum();
  examples_ += step.targets.size(0);
  ++batches_;
}

void EpochMeter::add_ties(const std::vector<NamedTieCounter>& counters) {
  for (const auto& t : counters) {
    const auto stats = t.counter->stats();
    ties_.push_back({t.name, stats.ties, stats.points});
  }
}

double EpochMeter::running_loss() const {
  return batches_ == 0 ? std::numeric_limits<double>::quiet_NaN()
                       : loss_sum_.item<double>() / static_cast<double>(batches_);
}

double EpochMeter::running_accuracy() const {
  return examples_ == 0 ? std::numeric_limits<double>::quiet_NaN()
                        : static_cast<double>(correct_.item<int64_t>()) / static_cast<double>(examples_);
}

EpochResult EpochMeter::reduce(distributed::DistributedContext* ctx) const {
  // One float64 vector, one all-reduce: [loss_sum, correct, examples, batches, (ties, points) per layer].
  // Counts below 2^53 add exactly in float64.
  const auto options = loss_sum_.options();
  std::vector<torch::Tensor> fields{loss_sum_, correct_.to(torch::kDouble),
                                    torch::full({}, static_cast<double>(examples_), options),
                                    torch::full({}, static_cast<double>(batches_), options)};
  for (const auto& t : ties_) {
    fields.push_back(torch::full({}, static_cast<double>(t.ties), options));
    fields.push_back(torch::full({}, static_cast<double>(t.points), options));
  }
  auto packed = torch::stack(fields);
  if (ctx) ctx->all_reduce_sum({packed});
  packed = packed.cpu().contiguous();
  const auto total = packed.accessor<double, 1>();

  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  EpochResult result;
  result.examples = static_cast<int64_t>(total[2]);
  result.batches = static_cast<int64_t>(total[3]);
  result.loss = result.batches == 0 ? kNaN : total[0] / total[3];
  result.accuracy = result.examples == 0 ? kNaN : total[1] / total[2];
  for (size_t k = 0; k < ties_.size(); ++k) {
    const double ties = total[4 + 2 * static_cast<int64_t>(k)];
    const double points = total[5 + 2 * static_cast<int64_t>(k)];
    result.ties.emplace_back(ties_[k].name, points == 0 ? 0.0 : ties / points);
  }
  return result;
}

namespace {

void start_counting(const Model& model, bool count) {
  for (const auto& t : model.tie_counters) {
    t.counter->reset();
    t.counter->set_counting(count ? nn::TieCounting::Count : nn::TieCounting::Off);
  }
}

void stop_counting(const Model& model, EpochMeter& meter, bool counted) {
  if (counted) meter.add_ties(model.tie_counters);
  for (const auto& t : model.tie_counters) t.counter->set_counting(nn::TieCounting::Off);
}

/// Epoch `epoch` of `split` on `shard`, held to the dataset's contract: a dataset that ignored its shard
/// would train every rank on the whole epoch, one that ignored its limits on more than the config says.
std::unique_ptr<data::BatchStream> open_epoch(const data::Dataset& dataset, data::Split split, int64_t epoch,
                                              data::Shard shard) {
  auto stream = dataset.epoch(split, epoch, shard);
  const int64_t expected = dataset.num_examples(split, shard);
  TORCH_CHECK(stream, "data '", dataset.name(), "': epoch() returned no stream");
  TORCH_CHECK(stream->num_examples() == expected, "data '", dataset.name(), "': the ", data::to_string(split),
              " stream of epoch ", epoch, " for shard ", shard.rank, " of ", shard.world_size, " yields ",
              stream->num_examples(), " examples, expected ", expected,
              " (Dataset::num_examples: the shard's part, cut to the limits and drop_last)");
  return stream;
}

}  // namespace

data::Shard rank_shard(const distributed::DistributedContext* ctx) {
  return ctx ? data::Shard{ctx->rank(), ctx->world_size()} : data::Shard{};
}

EpochResult train_epoch(Model& model, torch::optim::Optimizer& optimizer, const PrecisionPlan& plan,
                        c10::Device device, const data::Dataset& dataset, int64_t epoch,
                        distributed::DistributedContext* ctx, const TrainEpochHooks& hooks) {
  model.module->train();
  auto stream = open_epoch(dataset, data::Split::Train, epoch, rank_shard(ctx));
  start_counting(model, hooks.count_ties);
  EpochMeter meter(device);
  while (auto batch = stream->next()) {
    if (hooks.before_step) hooks.before_step();
    meter.add(train_step(model, optimizer, plan, device, *batch, hooks.scaler, hooks.reducer, hooks.probe));
    if (hooks.after_step) hooks.after_step(meter);
  }
  stop_counting(model, meter, hooks.count_ties);
  return meter.reduce(ctx);
}

EpochResult evaluate(Model& model, const data::Dataset& dataset, const PrecisionPlan& plan,
                     c10::Device device, distributed::DistributedContext* ctx, const EvaluateHooks& hooks) {
  model.module->eval();
  torch::NoGradGuard no_grad;
  if (ctx) {
    // Per-rank BatchNorm statistics differ: every rank evaluates with rank 0's.
    auto buffers = model.module->buffers();
    if (!buffers.empty()) ctx->broadcast(buffers);
  }
  start_counting(model, hooks.count_ties);
  EpochMeter meter(device);
  // The study's test pass had no autocast: mixed precision evaluates in fp32.
  const PrecisionPlan eval_plan = evaluation_plan(plan);
  auto stream = open_epoch(dataset, data::Split::Test, 0, rank_shard(ctx));
  while (auto batch = stream->next()) {
    if (hooks.before_batch) hooks.before_batch();
    auto x = batch->images.to(device, plan.parameter_dtype, /*non_blocking=*/true);
    auto y = batch->labels.to(device, /*non_blocking=*/true);
    meter.add(forward_loss(model, eval_plan, device, x, y));
  }
  stop_counting(model, meter, hooks.count_ties);
  return meter.reduce(ctx);
}

}  // namespace tiebreak::train
