#pragma once

#include "tiebreak/train/precision.h"
#include "tiebreak/train/step.h"
#include "tiebreak/train/task.h"

#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tiebreak::distributed {
class DistributedContext;
class GradientAllReducer;
}  // namespace tiebreak::distributed

namespace tiebreak::train {

/// One pass over a dataset, reduced over the ranks: what an epoch's training or test pass reports.
struct EpochResult {
  /// The study's epoch loss: the mean of the mini-batch mean losses (a short last batch weighs as much as a
  /// full one), over every rank's batches.
  double loss = 0;
  /// Correctly classified examples / examples (a fraction in [0, 1]).
  double accuracy = 0;
  int64_t examples = 0;
  int64_t batches = 0;
  /// Per counted pooling layer (its name in the model), the fraction of its windows with several equal
  /// maxima during the pass; empty when ties were not counted.
  std::vector<std::pair<std::string, double>> ties;
};

/// Accumulates the statistics of one pass (loss, correct predictions, examples, batches, tie counts) on
/// the device, without a host synchronization per step, and reduces them over the ranks once at the end
/// (flashlight's meters). Sums, not means, travel between ranks, so that any number of ranks gives the
/// one-process numbers: loss = Σ batch losses / Σ batches, accuracy = Σ correct / Σ examples.
///
/// Example:
/// ```
/// EpochMeter meter(device);
/// for (...) meter.add(train_step(model, *optimizer, plan, device, batch));
/// EpochResult r = meter.reduce(ctx);  // ctx may be null
/// ```
class EpochMeter {
 public:
  explicit EpochMeter(c10::Device device);

  /// Adds one mini-batch: its mean loss (any floating dtype, accumulated in float64) and its logits [N, K]
  /// against its targets [N].
  void add(const StepOutput& step);
  /// Adds the tie statistics the counters of `counters` gathered during the pass (read once, at its end).
  void add_ties(const std::vector<NamedTieCounter>& counters);

  /// This rank's examples and batches so far.
  int64_t examples() const { return examples_; }
  int64_t batches() const { return batches_; }
  /// This rank's running mean loss and accuracy (each synchronizes with the device: for progress lines).
  double running_loss() const;
  double running_accuracy() const;

  /// The totals over the ranks of `ctx` (one all-reduce; every rank must call it), or this rank's alone
  /// when `ctx` is null. With no batch anywhere, loss and accuracy are NaN.
  EpochResult reduce(distributed::DistributedContext* ctx) const;

 private:
  torch::Tensor loss_sum_;  // float64 scalar on the device
  torch::Tensor correct_;   // int64 scalar on the device
  int64_t examples_ = 0;
  int64_t batches_ = 0;
  struct TieCount {
    std::string name;
    int64_t ties;
    int64_t points;
  };
  std::vector<TieCount> ties_;
};

/// What a training pass does besides stepping.
struct TrainEpochHooks {
  /// Loss scaling (the plan's loss_scaling), gradient all-reduce across ranks, and the steps' probe: as
  /// train_step takes them.
  DynamicLossScaler* scaler = nullptr;
  distributed::GradientAllReducer* reducer = nullptr;
  StepProbe* probe = nullptr;
  /// Count ties in the model's tie counters during the pass (reset first, disabled after).
  bool count_ties = false;
  /// Runs before every step (the trainer's stop point: a signal ends the pass there by throwing).
  std::function<void()> before_step;
  /// Runs after every step with the pass so far (progress reporting).
  std::function<void(const EpochMeter&)> after_step;
};

/// The part of every epoch this process reads: rank r of the W ranks of `ctx` reads data::Shard{r, W}
/// (null: the whole epoch).
data::Shard rank_shard(const distributed::DistributedContext* ctx);

/// One training epoch, as the trainer runs it: `model` in training mode, train_step on every batch of
/// `data`'s training split for epoch `epoch` (this rank's shard, see rank_shard), the statistics reduced
/// over the ranks of `ctx` (null: this process alone). The learning rate is the caller's
/// (set_learning_rate before). Throws c10::Error when the epoch's stream does not yield
/// data.num_examples(Split::Train, shard) examples (a dataset that ignores its shard or limits).
///
/// Example:
/// ```
/// set_learning_rate(*optimizer, learning_rate_at(schedule, lr, epoch, epochs));
/// EpochResult r = train_epoch(model, *optimizer, plan, device, *data, epoch, nullptr);
/// ```
EpochResult train_epoch(Model& model, torch::optim::Optimizer& optimizer, const PrecisionPlan& plan,
                        c10::Device device, const data::Dataset& data, int64_t epoch,
                        distributed::DistributedContext* ctx, const TrainEpochHooks& hooks = {});

/// What a test pass does besides evaluating.
struct EvaluateHooks {
  /// Count ties in the model's tie counters during the pass (reset first, disabled after).
  bool count_ties = false;
  /// Runs before every batch (the trainer's stop point).
  std::function<void()> before_batch;
};

/// The test pass, as the study's `test()` ran it: `model` in eval mode (left so), no gradients, the test
/// split in file order (this rank's shard), inputs in the parameters' dtype, cross-entropy, the precision's
/// evaluation plan (no autocast: mixed precision evaluates in fp32; 16-bit plans keep their fp32
/// accumulation on the CPU). With `ctx`, every rank first takes rank 0's buffers (BatchNorm's running
/// statistics, the ones its checkpoint keeps) and the statistics are reduced over the ranks.
EpochResult evaluate(Model& model, const data::Dataset& data, const PrecisionPlan& plan, c10::Device device,
                     distributed::DistributedContext* ctx, const EvaluateHooks& hooks = {});

}  // namespace tiebreak::train
