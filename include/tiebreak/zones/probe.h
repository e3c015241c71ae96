#pragma once

#include "tiebreak/config/config.h"
#include "tiebreak/models/nonsmooth_layers.h"
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
/// Cost per probe step: one forward and backward for each pair value that is not the run's own choice,
/// and, for probes with D > 0 and classification on, one fp64 forward without gradient.
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

 private:
  struct Side {
    nlohmann::json value;
    /// The run's own choice: its backward is reused.
    bool is_run = false;
  };

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
  std::vector<nn::TieCounting> recorded_enabled_;
  train::Model reference_;
  std::vector<models::NonsmoothLayer> reference_recorded_;

  int64_t step_ = 0;
  std::vector<at::Tensor> rng_before_;
  std::vector<double> discrepancies_;
  std::vector<Zone> zones_;
};

}  // namespace tiebreak::zones
