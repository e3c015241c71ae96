#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/models/nonsmooth_layers.h"
#include "tiebreak/ops/saved_jacobian.h"
#include "tiebreak/train/metrics.h"
#include "tiebreak/train/step.h"
#include "tiebreak/zones/classify.h"
#include "tiebreak/zones/discrepancy_norm.h"
#include "tiebreak/zones/zones.h"

#include <torch/arg.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tiebreak::zones {

/// Options of a ZoneProbe; `from_config` maps the `train.zone_probe` section onto them.
///
/// Example:
/// ```
/// auto options =
/// ZoneProbeOptions(PairSpec::parse("nonsmooth.beta=0,1")).every(10).norm(DiscrepancyNorm::L1);
/// ```
struct ZoneProbeOptions {
  explicit ZoneProbeOptions(PairSpec pair) : pair_(std::move(pair)) {}

  /// The two Jacobian choices; a value "run" stands for the run's own value of the key.
  TORCH_ARG(PairSpec, pair);
  /// Probe steps 0, every, 2·every, ... of each epoch (> 0).
  TORCH_ARG(int64_t, every) = 10;
  TORCH_ARG(DiscrepancyNorm, norm) = DiscrepancyNorm::Linf;
  /// D above this is "above threshold"; nullopt = default_threshold(the run's precision).
  TORCH_ARG(std::optional<double>, threshold) = std::nullopt;
  /// Classify probes with D > 0 through an fp64 forward (never at fp64).
  TORCH_ARG(bool, classify) = true;
  /// Measure each probe the short way (true), or the long way: D over whole float64 copies of both
  /// gradients and the whole fp64 forward compared by zones::compare_tie_masks. Both give the same D and
  /// zones; the long way is the reference the short one is tested against.
  TORCH_ARG(bool, shortcuts) = true;

 public:
  static ZoneProbeOptions from_config(const config::ZoneProbeConfig& config);
};

/// The zone probe: the bifurcation/compensation-zone statistics of a training run, measured along its own
/// trajectory. At a probe step the gradient of the step's weights and mini-batch is computed under both
/// Jacobian choices of the pair — the run's own backward is reused for a choice equal to the run's, the
/// other ones switch the option on the model's own layers, replay the step's random numbers and repeat
/// the forward and backward under the same precision plan (autocast, loss scale) — and D, the
/// discrepancy of the two gradients (zones::discrepancy, the norm of `options.norm`), is compared with
/// the threshold and classified as `tiebreak zones` does (zones::classify, with the tie masks of the
/// run's own forward against those of an fp64 forward of the same weights and input). Then the layers'
/// options, the run's gradient, the module's buffers (BatchNorm statistics) and the random number
/// generators are restored, so training continues exactly as without the probe (bit for bit on the CPU;
/// on CUDA as far as its kernels are deterministic). Unlike `tiebreak zones`, which compares two networks
/// from one initialization (frozen, or trained apart), the probe compares the two choices at the weights
/// the run actually visits.
///
/// Cost per probe step: for each pair value that is not the run's own choice, one backward through the
/// run's own graph with the value switched in its nodes (ops::SavedJacobians: β of pure MaxPool2d, ReLU's
/// α), or one forward and backward repeated (the mixture formulation, whose forward depends on β, and the
/// other keys); D from the two gradients (zones::discrepancy of one norm); and, for probes with D > 0 and
/// classification on, an fp64 forward without gradient that stops at the first pooling (or ReLU) call
/// that decides the zone — none when the run's forward had no tie — and that, on the CPU, runs on one row
/// with a tie first when the rows are separable up to that call (only operators that keep the rows apart,
/// such as convolutions, ReLU and poolings, before it; see classify_decided). `options.shortcuts(false)`
/// measures the same D and zones the long way.
///
/// Not for data-parallel runs (the run's gradient is all-reduced, a repeated backward is not).
///
/// Example:
/// ```
/// ZoneProbe probe(ZoneProbeOptions::from_config(cfg.train.zone_probe), cfg, model, plan, device,
///                 [&] { return components.make_model(cfg, *data, seed); });
/// probe.start_epoch();
/// auto stream = data->epoch(data::Split::Train, epoch);
/// while (auto b = stream->next()) train_step(model, *opt, plan, device, *b, nullptr, nullptr, &probe);
/// train::ZoneProbeMetrics m = probe.finish_epoch();
/// ```
class ZoneProbe : public train::StepProbe {
 public:
  /// `run` is the run's config (its Jacobian choices and precision), `model` the network being trained (its
  /// layers are switched in place during a probe), `plan` and `device` how the run computes.
  /// `make_reference` builds a fresh network of the same architecture; it is called once, only when the
  /// probe classifies, and the random number generators are restored around it. Errors name
  /// `train.zone_probe.pair` when the pair changes no layer of the model.
  ZoneProbe(ZoneProbeOptions options, const config::ExperimentConfig& run, train::Model& model,
            train::PrecisionPlan plan, c10::Device device,
            const std::function<train::Model()>& make_reference);

  /// Clears the epoch's statistics and step count.
  void start_epoch();
  /// The statistics of the probes since start_epoch.
  train::ZoneProbeMetrics finish_epoch() const;

  bool begin_step() override;
  void measure(const train::ProbedStep& step) override;

  /// The threshold D is compared with.
  double threshold() const { return threshold_; }
  /// D of every probe of the epoch, in order (non-finite ones included).
  const std::vector<double>& discrepancies() const { return discrepancies_; }
  /// The zones of the epoch's finite probes, in order.
  const std::vector<Zone>& zones() const { return zones_; }

  /// What the epoch's probes computed beyond the run's own steps (what the shortcuts save).
  struct Work {
    /// Backward passes through the run's own graph under the other Jacobian choice (no forward).
    int64_t reused_backwards = 0;
    /// Forward and backward passes repeated under the other choice.
    int64_t repeated_steps = 0;
    /// fp64 forwards started to classify a probe, and the recorded layer calls they reached.
    int64_t fp64_forwards = 0;
    int64_t fp64_layer_calls = 0;
    /// The rows those forwards computed (on the CPU, often one row of a mini-batch: see classify_decided).
    int64_t fp64_rows = 0;
  };
  const Work& work() const { return work_; }

 private:
  struct Side {
    nlohmann::json value;
    /// The run's own choice: its backward is reused.
    bool is_run = false;
  };

  /// The zone of a probe with 0 < D < ∞ from the run's tie masks (per recorded layer, per call) and those of
  /// an fp64 forward of `reference_`, which holds the step's weights.
  Zone classify_decided(const std::vector<std::vector<at::Tensor>>& low_masks, const train::ProbedStep& step);
  /// The fp64 forward of `rows` of the step's input (undefined: all of them), stopped at the call that
  /// decides the zone of those rows; nullopt when the rows turn out not to be separable.
  std::optional<Zone> decide(const std::vector<std::vector<at::Tensor>>& low_masks,
                             const train::ProbedStep& step, const at::Tensor& rows);
  Zone classify_exhaustive(const std::vector<std::vector<at::Tensor>>& low_masks,
                           const train::ProbedStep& step);

  void apply(const nlohmann::json& value) const;
  std::vector<nlohmann::json> current_values() const;
  void restore(const std::vector<nlohmann::json>& values) const;

  ZoneProbeOptions options_;
  std::string field_;
  Side a_, b_;
  train::Model& model_;
  train::PrecisionPlan plan_;
  c10::Device device_;
  config::Precision precision_;
  double threshold_ = 0;
  bool classify_ = false;
  /// The layers whose option the pair switches.
  std::vector<models::NonsmoothLayer> switched_;
  /// Counted layers of the kinds the pair changes: their tie masks classify a probe.
  std::vector<models::NonsmoothLayer> recorded_;
  /// Set when the pair's parameter can be switched in the run's own graph (ops::SavedJacobians).
  std::optional<ops::JacobianParameter> reused_;
  /// The switched layers' distinct counters, which count the calls of the run's forward.
  std::vector<nn::TieCounter*> call_counters_;
  std::vector<int64_t> calls_before_;
  /// The counters a probed step turns on (call_counters_ and recorded_'s), and how it found them.
  std::vector<nn::TieCounter*> watched_;
  std::vector<nn::TieCounting> watched_counting_;
  train::Model reference_;
  /// Whether the reference's fp64 forward may still be tried on a few rows (see classify_decided).
  bool separable_rows_ = true;
  std::vector<models::NonsmoothLayer> reference_recorded_;

  int64_t step_ = 0;
  std::vector<at::Tensor> rng_before_;
  std::vector<double> discrepancies_;
  std::vector<Zone> zones_;
  Work work_;
};

}  // namespace tiebreak::zones
