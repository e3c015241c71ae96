// Training-level benchmark: images/s of full training steps (batch from
// tiebreak::data → forward → cross-entropy → backward → optimizer step), the
// step tiebreak::train's trainer runs, with the model and data the trainer
// builds (train::default_components()).
//   train/<device>/<task>/<precision>/<impl>
//     task       lenet5_mnist (MNIST, batch 128), vgg11_cifar10 (the shared
//                4000-image CIFAR-10 subset, crop+flip, batch 128 on CUDA, 32 on the CPU)
//     precision  fp32, fp16 / bf16 (whole model in 16 bits), amp (fp32 weights, fp16
//                autocast, dynamic loss scaling); the 16-bit ones with the default
//                train.half_compute=auto (fp32 accumulation; BFloat16 products on
//                oneDNN where the CPU has BF16 units), and as <precision>_native with
//                LibTorch's own 16-bit kernels (tiebreak_pure_b0 only)
//     impl       tiebreak_pure_b0, tiebreak_pure_b1000, tiebreak_mixture_b1000 (tie
//                statistics off, as the Python baseline keeps none), and
//                tiebreak_pure_b1000_tiestats (with the per-layer tie counters the
//                trainer keeps by default)
// One benchmark iteration is one (limited) epoch of `steps` batches; the first
// epoch runs untimed. SGD, lr 0.01, momentum 0.9 — the same as scripts/bench_python.py.
// The zones pass (two networks per mini-batch, tiebreak::zones) is timed as
//   zones/<device>/lenet5_mnist/fp32/pass_b0_vs_b1[_classified]
// (mini-batches/s; _classified also recomputes tied mini-batches in fp64).
// The trainer's zone probe (train.zone_probe, zones::ZoneProbe) is timed as
//   probe/<device>/<task>/fp32/<mode>
//     mode  off (no probe: the plain step), every10 (β = 0 run, pair β = 0 vs 1, probe at steps
//           0, 10, ...: one extra backward through the run's graph, and where D > 0 an fp64 forward
//           up to the pool that decides the zone), every10_unclassified (train.zone_probe.classify =
//           false), every10_reference (every10 the long way, ZoneProbeOptions::shortcuts(false): a
//           repeated forward + backward, D over float64 copies, the whole fp64 forward)
// over epochs of 20 steps (LeNet5, batch 128; VGG11, batch 32 on the CPU), images/s.

#include "support/bench_support.h"

#include "tiebreak/config/config.h"
#include "tiebreak/config/options.h"
#include "tiebreak/train/optimizer.h"
#include "tiebreak/train/precision.h"
#include "tiebreak/train/step.h"
#include "tiebreak/train/task.h"
#include "tiebreak/zones/probe.h"
#include "tiebreak/zones/zones.h"

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tiebreak::bench {
namespace {

struct PrecisionVariant {
  config::Precision precision;
  config::HalfCompute half_compute = config::HalfCompute::Auto;
};

struct TrainCase {
  std::string task;
  std::string model;
  std::string dataset;
  std::vector<PrecisionVariant> precisions;
};

struct TrainImpl {
  std::string name;
  double beta;
  ops::PoolFormulation formulation;
  bool tie_stats;
};

struct StepSizes {
  int64_t batch;
  int64_t steps;
};

StepSizes step_sizes(const std::string& task, const c10::Device& device, bool smoke) {
  if (smoke) return {4, 2};
  if (device.is_cuda()) return {128, 50};
  // Two shared CPU cores: enough steps to average over, few enough to finish.
  return task == "lenet5_mnist" ? StepSizes{128, 20} : StepSizes{32, 3};
}

config::ExperimentConfig make_config(const TrainCase& c, const TrainImpl& impl, PrecisionVariant precision,
                                     const c10::Device& device, StepSizes sizes) {
  config::ExperimentConfig cfg;
  cfg.data.dataset = c.dataset;
  cfg.data.root = shared_data_root().string();
  cfg.data.batch_size = sizes.batch;
  cfg.data.train_limit = sizes.batch * sizes.steps;
  if (c.dataset == "cifar-10") {
    cfg.data.files.train = {"data_batch_1.first4000.bin.gz"};
    cfg.data.files.test = {"test_batch.first1000.bin.gz"};
  }
  cfg.model.name = c.model;
  cfg.nonsmooth.beta = impl.beta;
  cfg.nonsmooth.formulation = impl.formulation;
  cfg.train.precision = precision.precision;
  cfg.train.half_compute = precision.half_compute;
  cfg.train.optimizer.name = config::OptimizerKind::Sgd;
  cfg.train.optimizer.lr = 0.01;
  cfg.train.optimizer.momentum = 0.9;
  cfg.exp.device = device.str();
  cfg.exp.tie_stats = impl.tie_stats;
  return cfg;
}

std::string precision_name(PrecisionVariant v) {
  const std::string name = v.precision == config::Precision::AmpFp16 ? "amp" : config::to_string(v.precision);
  const bool sixteen_bit = v.precision != config::Precision::Fp32 && v.precision != config::Precision::Fp64;
  return sixteen_bit && v.half_compute == config::HalfCompute::Native ? name + "_native" : name;
}

/// Components whose data comes from the benchmark's cache, so a zones run
/// times its passes, not MNIST decoding.
train::Components cached_components() {
  auto components = train::default_components();
  auto make_data = components.make_data;
  components.make_data = [make_data](const config::ExperimentConfig& cfg, const data::DataOptions& options) {
    static std::map<std::string, std::shared_ptr<data::Dataset>> datasets;
    const std::string key = options.name() + "/" + options.device().str() + "/" +
                            c10::toString(options.dtype()) + "/" + std::to_string(options.seed()) + "/" +
                            std::to_string(options.train_batch_size()) + "/" +
                            std::to_string(options.train_limit());
    auto& dataset = datasets[key];
    if (!dataset) dataset = make_data(cfg, options);
    return dataset;
  };
  return components;
}

/// What a timed training loop starts from: the cached data, the model (seed
/// 0) on `device` in the plan's parameter dtype, in training mode, with its tie
/// counters on or off, and its SGD optimizer. One place for the training and
/// probe benchmarks, so that both time the same set-up.
struct TrainingSetup {
  train::Components components;
  std::shared_ptr<data::Dataset> data;
  train::Model model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;

  static TrainingSetup build(const config::ExperimentConfig& cfg, const train::PrecisionPlan& plan,
                             const c10::Device& device, bool tie_stats) {
    TrainingSetup s;
    s.components = cached_components();
    s.data = s.components.make_data(cfg, config::to_data_options(cfg, 0, device, plan.parameter_dtype));
    s.model = s.components.make_model(cfg, *s.data, 0);
    s.model.module->to(device, plan.parameter_dtype);
    s.model.module->train();
    for (auto& counter : s.model.tie_counters)
      counter.counter->set_counting(tie_stats ? nn::TieCounting::Count : nn::TieCounting::Off);
    s.optimizer = train::make_optimizer(cfg.train.optimizer, s.model.module->parameters());
    return s;
  }
};

void train_steps(benchmark::State& state, TrainCase c, TrainImpl impl, PrecisionVariant precision,
                 c10::Device device, StepSizes sizes) {
  const auto cfg = make_config(c, impl, precision, device, sizes);
  const auto plan = train::plan_for(precision.precision, precision.half_compute);
  const at::ScalarType compute = plan.autocast_dtype.value_or(plan.parameter_dtype);
  if (auto missing = train::unsupported_ops(compute, device); !missing.empty()) {
    state.SkipWithError(("LibTorch lacks " + std::string(c10::toString(compute)) + " kernels on " +
                         device.str() + " for: " + missing.front())
                            .c_str());
    for (auto _ : state) {
    }
    return;
  }
  auto setup = TrainingSetup::build(cfg, plan, device, impl.tie_stats);
  auto& data = setup.data;
  auto& model = setup.model;
  auto& optimizer = setup.optimizer;
  std::unique_ptr<train::DynamicLossScaler> scaler;
  if (plan.loss_scaling) scaler = std::make_unique<train::DynamicLossScaler>(cfg.train.loss_scale, device);

  auto loss_sum = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device));
  int64_t images = 0;
  const auto epoch = [&](int64_t index) {
    auto stream = data->epoch(data::Split::Train, index);
    while (auto batch = stream->next()) {
      loss_sum +=
          train::train_step(model, *optimizer, plan, device, *batch, scaler.get()).loss.to(at::kDouble);
      images += batch->labels.size(0);
    }
    synchronize(device);
  };
  epoch(0);  // warm-up: allocator, oneDNN/cuDNN kernel selection
  images = 0;
  int64_t index = 1;
  for (auto _ : state) epoch(index++);
  if (!std::isfinite(loss_sum.item<double>())) {
    state.SkipWithError("the training loss became non-finite");
    return;
  }
  state.SetItemsProcessed(images);
  state.counters["batch"] = static_cast<double>(sizes.batch);
  state.counters["steps_per_iteration"] = static_cast<double>(sizes.steps);
}

/// Training steps with the zone probe off, or on every 10 steps (classified or not).
void probe_steps(benchmark::State& state, TrainCase c, std::string mode, c10::Device device,
                 StepSizes sizes) {
  const PrecisionVariant precision{config::Precision::Fp32};
  auto cfg = make_config(c, {"probe", 0.0, ops::PoolFormulation::Pure, false}, precision, device, sizes);
  const auto plan = train::plan_for(precision.precision, precision.half_compute);
  auto setup = TrainingSetup::build(cfg, plan, device, /*tie_stats=*/false);
  const auto& components = setup.components;
  auto& data = setup.data;
  auto& model = setup.model;
  auto& optimizer = setup.optimizer;
  std::unique_ptr<zones::ZoneProbe> probe;
  if (mode != "off") {
    cfg.train.zone_probe.every = 10;
    cfg.train.zone_probe.classify = mode != "every10_unclassified";
    auto options = zones::ZoneProbeOptions::from_config(cfg.train.zone_probe);
    options.shortcuts(mode != "every10_reference");
    probe = std::make_unique<zones::ZoneProbe>(options, cfg, model, plan, device,
                                               [&] { return components.make_model(cfg, *data, 0); });
  }
  int64_t images = 0, probes = 0, above = 0, repeated = 0, fp64_layer_calls = 0, fp64_rows = 0;
  const auto epoch = [&](int64_t index) {
    if (probe) probe->start_epoch();
    auto stream = data->epoch(data::Split::Train, index);
    while (auto batch = stream->next()) {
      train::train_step(model, *optimizer, plan, device, *batch, nullptr, nullptr, probe.get());
      images += batch->labels.size(0);
    }
    synchronize(device);
    if (probe) {
      const auto m = probe->finish_epoch();
      probes += m.probes;
      above += m.above_threshold;
      repeated += probe->work().repeated_steps;
      fp64_layer_calls += probe->work().fp64_layer_calls;
      fp64_rows += probe->work().fp64_rows;
    }
  };
  epoch(0);  // warm-up
  images = probes = above = repeated = fp64_layer_calls = fp64_rows = 0;
  int64_t index = 1;
  for (auto _ : state) epoch(index++);
  state.SetItemsProcessed(images);
  state.counters["batch"] = static_cast<double>(sizes.batch);
  state.counters["steps_per_iteration"] = static_cast<double>(sizes.steps);
  state.counters["probes"] = static_cast<double>(probes);
  state.counters["probes_above_threshold"] = static_cast<double>(above);
  // What the probes computed: forwards repeated (0 where the run's graph is reused), and the pooling calls
  // the fp64 forwards reached before the zone was decided, and the rows they computed.
  state.counters["repeated_forwards"] = static_cast<double>(repeated);
  state.counters["fp64_pool_calls"] = static_cast<double>(fp64_layer_calls);
  state.counters["fp64_rows"] = static_cast<double>(fp64_rows);
}

/// The zones pass: two LeNet5s (β = 0 and β = 1) on the same mini-batches, their
/// gradient discrepancy measured (and, where D > 0, classified in fp64) per
/// mini-batch; items are mini-batches (each = two networks' forward + backward).
void zones_passes(benchmark::State& state, c10::Device device, StepSizes sizes, bool classify) {
  const TrainCase c{"lenet5_mnist", "lenet5", "mnist", {{config::Precision::Fp32}}};
  auto cfg = make_config(c, {"zones", 0.0, ops::PoolFormulation::Pure, false}, {config::Precision::Fp32},
                         device, sizes);
  cfg.data.train_limit = 0;
  cfg.zones.initializations = 1;  // one pass: the unit the benchmark times
  const auto loaded = config::config_from_json(config::to_json(cfg), "zones benchmark");
  zones::ZonesOptions options;
  options.pair = zones::PairSpec::parse("nonsmooth.beta=0,1");
  options.precisions = {config::Precision::Fp32};
  options.epochs = 1;
  options.batch_limit = sizes.steps;
  options.classify = classify;
  const auto components = cached_components();
  zones::run_zones(loaded, options, components);  // warm-up (and data decoding)
  int64_t passes = 0;
  for (auto _ : state) {
    const auto result = zones::run_zones(loaded, options, components);
    passes += static_cast<int64_t>(result.batches.size());
    synchronize(device);
  }
  state.SetItemsProcessed(passes);
  state.counters["batch"] = static_cast<double>(sizes.batch);
}

void register_all(const RunOptions& options) {
  using config::HalfCompute;
  using config::Precision;
  const std::vector<TrainCase> cases{
      {"lenet5_mnist",
       "lenet5",
       "mnist",
       {{Precision::Fp32},
        {Precision::Fp16},
        {Precision::Fp16, HalfCompute::Native},
        {Precision::Bf16},
        {Precision::Bf16, HalfCompute::Native}}},
      {"vgg11_cifar10",
       "vgg11",
       "cifar-10",
       {{Precision::Fp32},
        {Precision::Fp16},
        {Precision::Fp16, HalfCompute::Native},
        {Precision::AmpFp16},
        {Precision::AmpFp16, HalfCompute::Native},
        {Precision::Bf16},
        {Precision::Bf16, HalfCompute::Native}}},
  };
  const std::vector<TrainImpl> impls{
      {"tiebreak_pure_b0", 0.0, ops::PoolFormulation::Pure, false},
      {"tiebreak_pure_b1000", 1000.0, ops::PoolFormulation::Pure, false},
      {"tiebreak_mixture_b1000", 1000.0, ops::PoolFormulation::Mixture, false},
      {"tiebreak_pure_b1000_tiestats", 1000.0, ops::PoolFormulation::Pure, true},
  };
  const bool have_mnist = real_data_present("mnist/train-images-idx3-ubyte.gz",
                                            "the LeNet-5/MNIST training and zones benchmarks");
  const bool have_cifar =
      real_data_present("cifar-10/data_batch_1.first4000.bin.gz", "the VGG11/CIFAR-10 training benchmarks");
  for (const auto& device : options.devices) {
    for (const auto& c : cases) {
      if (!(c.dataset == "mnist" ? have_mnist : have_cifar)) continue;
      const auto sizes = step_sizes(c.task, device, options.smoke);
      for (auto precision : c.precisions) {
        for (const auto& impl : impls) {
          // LibTorch's own 16-bit CPU kernels are the slow reference: one implementation is enough. On
          // CUDA the two paths are one (train.half_compute applies to CPU tensors).
          const bool native = precision_name(precision).find("_native") != std::string::npos;
          if (native && (impl.name != "tiebreak_pure_b0" || device.is_cuda())) continue;
          const std::string name =
              "train/" + device.str() + "/" + c.task + "/" + precision_name(precision) + "/" + impl.name;
          benchmark::RegisterBenchmark(name.c_str(), train_steps, c, impl, precision, device, sizes)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->Iterations(options.smoke ? 1 : 3);
        }
      }
    }
    for (const auto& c : cases) {
      if (!(c.dataset == "mnist" ? have_mnist : have_cifar)) continue;
      // 20 steps per epoch: two probes at every = 10.
      auto sizes = step_sizes(c.task, device, options.smoke);
      if (!options.smoke) sizes.steps = 20;
      for (const char* mode : {"off", "every10", "every10_unclassified", "every10_reference"}) {
        const std::string name = "probe/" + device.str() + "/" + c.task + "/fp32/" + mode;
        benchmark::RegisterBenchmark(name.c_str(), probe_steps, c, std::string(mode), device, sizes)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(options.smoke ? 1 : 3);
      }
    }
    if (!have_mnist) continue;
    const auto sizes = step_sizes("lenet5_mnist", device, options.smoke);
    for (bool classify : {false, true}) {
      const std::string name = "zones/" + device.str() + "/lenet5_mnist/fp32/" +
                               (classify ? "pass_b0_vs_b1_classified" : "pass_b0_vs_b1");
      benchmark::RegisterBenchmark(name.c_str(), zones_passes, device, sizes, classify)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(options.smoke ? 1 : 3);
    }
  }
}

}  // namespace
}  // namespace tiebreak::bench

int main(int argc, char** argv) {
  return tiebreak::bench::run_benchmark_program(argc, argv, tiebreak::bench::register_all);
}
