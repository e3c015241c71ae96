#include "tiebreak/zones/probe.h"

#include "zones/internal.h"
#include "zones/row_separability.h"

#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/norm_pool.h"
#include "tiebreak/nn/modules/pooling.h"
#include "tiebreak/nn/record_hook.h"
#include "tiebreak/ops/formulation.h"
#include "tiebreak/ops/saved_jacobian.h"
#include "tiebreak/zones/statistics.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <mutex>

namespace tiebreak::zones {
namespace {

using nlohmann::json;

// The generators a forward may draw from (dropout): the CPU one and, on CUDA, the device's.
std::vector<at::Generator> generators(const c10::Device& device) {
  std::vector<at::Generator> gens{at::detail::getDefaultCPUGenerator()};
  if (device.is_cuda()) gens.push_back(at::globalContext().defaultGenerator(device));
  return gens;
}

std::vector<at::Tensor> rng_state(const c10::Device& device) {
  std::vector<at::Tensor> states;
  for (auto& gen : generators(device)) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    states.push_back(gen.get_state());
  }
  return states;
}

void set_rng_state(const c10::Device& device, const std::vector<at::Tensor>& states) {
  auto gens = generators(device);
  TORCH_INTERNAL_ASSERT(gens.size() == states.size());
  for (size_t k = 0; k < gens.size(); ++k) {
    std::lock_guard<std::mutex> lock(gens[k].mutex());
    gens[k].set_state(states[k]);
  }
}

// Whether `layer` carries the option `field` (a nonsmooth key without its section).
bool carries(const models::NonsmoothLayer& layer, const std::string& field) {
  auto* module = layer.module.get();
  if (field == "beta" || field == "formulation") return dynamic_cast<nn::MaxPool2dImpl*>(module) != nullptr;
  if (field == "grad_at_zero") return dynamic_cast<nn::NormPool2dImpl*>(module) != nullptr;
  if (field == "relu_alpha") return dynamic_cast<nn::ReLUImpl*>(module) != nullptr;
  return false;
}

json option_of(const models::NonsmoothLayer& layer, const std::string& field) {
  auto* module = layer.module.get();
  if (auto* pool = dynamic_cast<nn::MaxPool2dImpl*>(module)) {
    if (field == "beta") return pool->options.beta();
    return ops::to_string(pool->options.formulation());
  }
  if (auto* norm = dynamic_cast<nn::NormPool2dImpl*>(module)) return norm->options.grad_at_zero();
  return dynamic_cast<nn::ReLUImpl*>(module)->options.alpha();
}

void set_option(const models::NonsmoothLayer& layer, const std::string& field, const json& value) {
  auto* module = layer.module.get();
  if (auto* pool = dynamic_cast<nn::MaxPool2dImpl*>(module)) {
    if (field == "beta") {
      pool->options.beta(value.get<double>());
    } else {
      pool->options.formulation(ops::parse_pool_formulation(value.get<std::string>()));
    }
  } else if (auto* norm = dynamic_cast<nn::NormPool2dImpl*>(module)) {
    norm->options.grad_at_zero(value.get<double>());
  } else {
    dynamic_cast<nn::ReLUImpl*>(module)->options.alpha(value.get<double>());
  }
}

bool same_value(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

}  // namespace

ZoneProbeOptions ZoneProbeOptions::from_config(const config::ZoneProbeConfig& config) {
  ZoneProbeOptions options(PairSpec::parse(config.pair));
  options.every(config.every).norm(config.norm).classify(config.classify);
  if (config.threshold >= 0) options.threshold(config.threshold);
  return options;
}

ZoneProbe::ZoneProbe(ZoneProbeOptions options, const config::ExperimentConfig& run, train::Model& model,
                     train::PrecisionPlan plan, c10::Device device,
                     const std::function<train::Model()>& make_reference)
    : options_(std::move(options)),
      model_(model),
      plan_(plan),
      device_(device),
      precision_(run.train.precision) {
  const auto& pair = options_.pair();
  TORCH_CHECK(options_.every() > 0, "train.zone_probe.every: expected a positive number of steps, got ",
              options_.every());
  TORCH_CHECK(detail::is_nonsmooth_key(pair.key) && pair.key != "nonsmooth.pool",
              "train.zone_probe.pair: ", pair.key,
              " cannot be switched on a built model; expected nonsmooth.beta, nonsmooth.formulation, ",
              "nonsmooth.grad_at_zero or nonsmooth.relu_alpha");
  field_ = pair.key.substr(pair.key.find('.') + 1);
  const json run_value = config::value_at(config::to_json(run), pair.key);
  for (const auto& [side, value] :
       std::vector<std::pair<Side*, json>>{{&a_, pair.value_a}, {&b_, pair.value_b}}) {
    side->is_run = value == "run" || same_value(value, run_value);
    side->value = value == "run" ? run_value : value;
    const bool valid = field_ == "formulation"
                           ? side->value == "pure" || side->value == "mixture"
                           : side->value.is_number() && std::isfinite(side->value.get<double>());
    TORCH_CHECK(valid, "train.zone_probe.pair: expected ",
                field_ == "formulation" ? "pure, mixture" : "a finite number", " or run as a value of ",
                pair.key, ", got ", value.dump());
  }
  for (const auto& layer : models::nonsmooth_layers(*model_.module))
    if (layer.module && carries(layer, field_)) switched_.push_back(layer);
  TORCH_CHECK(!switched_.empty(), "train.zone_probe.pair: ", pair.key, " changes no layer of model '",
              run.model.name, "' (no tiebreak ", field_ == "relu_alpha" ? "ReLU" : "pooling",
              " layer carries it)");
  threshold_ = options_.threshold().value_or(default_threshold(precision_));
  TORCH_CHECK(threshold_ >= 0 && std::isfinite(threshold_), "train.zone_probe.threshold: expected a finite ",
              "number >= 0, got ", threshold_);

  // fp64 has no higher precision to resolve a tie with.
  classify_ = options_.classify() && precision_ != config::Precision::Fp64;
  if (classify_) {
    const auto kinds = detail::layers_changed_by(pair.key);
    for (const auto& layer : detail::counted_layers(*model_.module))
      if (kinds.count(layer.kind)) recorded_.push_back(layer);
    // The factory may seed the global generators (models draw their initial weights there): the run's
    // random stream must not notice that a reference was built.
    const auto state = rng_state(device_);
    reference_ = make_reference();
    set_rng_state(device_, state);
    TORCH_CHECK(reference_.module && reference_.forward,
                "train.zone_probe: the model factory returned no module");
    reference_.module->to(device_, at::kDouble);
    reference_.module->train();
    // The reference's forward gives the tie masks of side a, as `tiebreak zones` classifies.
    for (const auto& layer : models::nonsmooth_layers(*reference_.module))
      if (layer.module && carries(layer, field_)) set_option(layer, field_, a_.value);
    for (const auto& layer : detail::counted_layers(*reference_.module)) {
      if (!kinds.count(layer.kind)) continue;
      reference_recorded_.push_back(layer);
    }
    TORCH_CHECK(reference_recorded_.size() == recorded_.size(),
                "train.zone_probe: the reference network of '", run.model.name, "' has ",
                reference_recorded_.size(), " recorded layers, the run's ", recorded_.size());
  }

  // The parameters whose forward does not depend on them can be switched in the run's own graph; the
  // switched layers' counters count the calls, i.e. the graph nodes that must switch.
  if (options_.shortcuts() && (field_ == "beta" || field_ == "relu_alpha") &&
      std::all_of(switched_.begin(), switched_.end(),
                  [](const auto& layer) { return layer.counter != nullptr; })) {
    reused_ = field_ == "beta" ? ops::JacobianParameter::MaxPoolBeta : ops::JacobianParameter::ReluAlpha;
    for (const auto& layer : switched_)
      if (std::find(call_counters_.begin(), call_counters_.end(), layer.counter.get()) ==
          call_counters_.end())
        call_counters_.push_back(layer.counter.get());
  }
  for (auto* counter : call_counters_) watched_.push_back(counter);
  for (const auto& layer : recorded_)
    if (std::find(watched_.begin(), watched_.end(), layer.counter.get()) == watched_.end())
      watched_.push_back(layer.counter.get());
}

void ZoneProbe::start_epoch() {
  step_ = 0;
  work_ = {};
  discrepancies_.clear();
  zones_.clear();
}

train::ZoneProbeMetrics ZoneProbe::finish_epoch() const {
  train::ZoneProbeMetrics m;
  m.norm = to_string(options_.norm());
  m.threshold = threshold_;
  m.probes = static_cast<int64_t>(discrepancies_.size());
  std::vector<double> finite;
  for (double d : discrepancies_) {
    if (!std::isfinite(d)) {
      ++m.non_finite;
      continue;
    }
    finite.push_back(d);
    if (d > threshold_) ++m.above_threshold;
  }
  const auto ci = wilson_interval(m.above_threshold, m.finite());
  m.volume_low = ci.low;
  m.volume_high = ci.high;
  if (!finite.empty()) {
    std::sort(finite.begin(), finite.end());
    const size_t n = finite.size();
    m.median = n % 2 == 1 ? finite[n / 2] : 0.5 * (finite[n / 2 - 1] + finite[n / 2]);
    m.max = finite.back();
  }
  for (const auto zone : zones_) {
    switch (zone) {
      case Zone::None:
        ++m.none;
        break;
      case Zone::Bifurcation:
        ++m.bifurcation;
        break;
      case Zone::Compensation:
        ++m.compensation;
        break;
      case Zone::Unresolved:
        ++m.unresolved;
        break;
    }
  }
  return m;
}

bool ZoneProbe::begin_step() {
  if (step_++ % options_.every() != 0) return false;
  rng_before_ = rng_state(device_);
  // In the run's own forward, record the tie masks and count the switched layers' calls (the counters
  // count as they do in every forward; with exp.tie_stats off nobody reads those counts).
  watched_counting_.clear();
  for (auto* counter : watched_) {
    watched_counting_.push_back(counter->counting());
    if (counter->counting() == nn::TieCounting::Off) counter->set_counting(nn::TieCounting::Count);
  }
  for (const auto& layer : recorded_) {
    layer.counter->take_recorded();
    layer.counter->set_counting(nn::TieCounting::Record);
  }
  calls_before_.clear();
  for (auto* counter : call_counters_) calls_before_.push_back(counter->stats().calls);
  return true;
}

std::vector<json> ZoneProbe::current_values() const {
  std::vector<json> values;
  for (const auto& layer : switched_) values.push_back(option_of(layer, field_));
  return values;
}

void ZoneProbe::apply(const json& value) const {
  for (const auto& layer : switched_) set_option(layer, field_, value);
}

void ZoneProbe::restore(const std::vector<json>& values) const {
  for (size_t k = 0; k < switched_.size(); ++k) set_option(switched_[k], field_, values[k]);
}

void ZoneProbe::measure(const train::ProbedStep& step) {
  torch::nn::Module& module = *step.model.module;
  // The run's forward is done: stop recording, and hand the counters back as the trainer set them.
  std::vector<std::vector<at::Tensor>> low_masks;
  for (const auto& layer : recorded_) {
    low_masks.push_back(layer.counter->take_recorded());
  }
  int64_t switched_calls = 0;
  for (size_t k = 0; k < call_counters_.size(); ++k)
    switched_calls += call_counters_[k]->stats().calls - calls_before_[k];
  for (size_t k = 0; k < watched_.size(); ++k) watched_[k]->set_counting(watched_counting_[k]);

  auto parameters = module.parameters();
  const std::vector<at::Tensor> run_gradients = detail::gradients(module);
  const auto rng_after = rng_state(step.device);
  // Every call of a switched layer left one node in the run's graph, and nothing else in it reads the
  // parameter: switching the nodes gives exactly the other choice's backward of the same forward.
  std::optional<ops::SavedJacobians> saved;
  if (reused_ && step.loss.defined()) {
    saved.emplace(step.loss, *reused_);
    if (saved->forward_dependent() > 0 || static_cast<int64_t>(saved->size()) != switched_calls)
      saved.reset();
  }

  std::vector<at::Tensor> grads_a, grads_b;
  if (saved) {
    auto gradients_of = [&](const Side& side) {
      if (side.is_run) return run_gradients;
      ++work_.reused_backwards;
      saved->set(side.value.get<double>());
      for (auto& p : parameters) p.mutable_grad() = at::Tensor();
      train::backward(step.loss, step.scaler, nullptr, /*retain_graph=*/true);
      saved->restore();
      return detail::gradients(module);
    };
    grads_a = gradients_of(a_);
    grads_b = gradients_of(b_);
  } else {
    std::vector<at::Tensor> buffers;
    {
      torch::NoGradGuard no_grad;
      for (const auto& b : module.buffers()) buffers.push_back(b.clone());
    }
    const auto options = current_values();
    // The repeated forwards must not add to the run's tie statistics.
    std::vector<nn::TieCounting> counting;
    const auto counted = detail::counted_layers(module);
    for (const auto& layer : counted) {
      counting.push_back(layer.counter->counting());
      layer.counter->set_counting(nn::TieCounting::Off);
    }
    auto gradients_of = [&](const Side& side) {
      if (side.is_run) return run_gradients;
      ++work_.repeated_steps;
      apply(side.value);
      set_rng_state(step.device, rng_before_);
      for (auto& p : parameters) p.mutable_grad() = at::Tensor();
      auto out = train::forward_loss(step.model, step.plan, step.device, step.inputs, step.targets);
      train::backward(out.loss, step.scaler);
      auto grads = detail::gradients(module);
      torch::NoGradGuard no_grad;
      const auto current = module.buffers();
      for (size_t k = 0; k < buffers.size(); ++k) current[k].copy_(buffers[k]);
      return grads;
    };
    grads_a = gradients_of(a_);
    grads_b = gradients_of(b_);
    restore(options);
    for (size_t k = 0; k < counted.size(); ++k) counted[k].counter->set_counting(counting[k]);
  }
  for (size_t k = 0; k < parameters.size(); ++k) parameters[k].mutable_grad() = run_gradients[k];

  double value = 0;
  if (options_.shortcuts()) {
    value = discrepancy(grads_a, grads_b, options_.norm());
  } else {
    const auto d = discrepancy(grads_a, grads_b);
    value = options_.norm() == DiscrepancyNorm::Linf ? d.linf : d.l1;
  }
  // Both gradients carry the same loss scale; the norms are homogeneous, so dividing D by it gives the
  // discrepancy of the unscaled gradients (exactly, for the power-of-two scales the scaler uses).
  if (step.scaler) value /= step.scaler->current_scale();
  discrepancies_.push_back(value);
  if (!std::isfinite(value)) {
    set_rng_state(step.device, rng_after);
    return;
  }
  Zone zone = classify(value, nullptr);
  if (classify_ && value > 0) {
    detail::copy_state(module, *reference_.module);
    zone = options_.shortcuts() ? classify_decided(low_masks, step) : classify_exhaustive(low_masks, step);
  }
  set_rng_state(step.device, rng_after);
  zones_.push_back(zone);
}

namespace {

/// Thrown by the fp64 forward's record hooks once the zone is decided, to skip the rest of that forward
/// (the network's forward is one opaque call).
struct ZoneDecided {
  Zone zone;
};

}  // namespace

Zone ZoneProbe::classify_exhaustive(const std::vector<std::vector<at::Tensor>>& low_masks,
                                    const train::ProbedStep& step) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> low;
  for (const auto& masks : low_masks) low.insert(low.end(), masks.begin(), masks.end());
  for (const auto& layer : reference_recorded_) layer.counter->reset();
  for (const auto& layer : reference_recorded_) layer.counter->set_counting(nn::TieCounting::Record);
  set_rng_state(step.device, rng_before_);
  // The low-precision input itself, widened exactly: input rounding is not what is classified.
  ++work_.fp64_forwards;
  work_.fp64_rows += step.inputs.size(0);
  reference_.forward(step.inputs.to(at::kDouble));
  const auto high = detail::recorded_masks(reference_recorded_);
  work_.fp64_layer_calls += static_cast<int64_t>(high.size());
  const auto ties = compare_tie_masks(low, high);
  for (const auto& layer : reference_recorded_) layer.counter->set_counting(nn::TieCounting::Off);
  return classify(1, &ties);
}

// zones::classify over zones::compare_tie_masks says "bifurcation" as soon as one tie of the run's forward
// is also a tie of the fp64 forward, and "compensation" otherwise. So the fp64 forward stops at the first
// layer call that decides: one with a surviving tie, or the last one whose run's mask has a tie left to
// survive; with no tie in the run's masks it does not run at all. On the CPU it first runs on one row with
// a tie, then on the other rows with ties, when detail::RowSeparabilityObserver vouches that those rows get
// the bits they get in the whole batch (a LeNet5 without batch norm, up to its pools): rows without ties
// cannot decide, and a surviving tie is usually found in the first row. Otherwise, or on CUDA, it runs on
// the whole batch. The zone is the same as classify_exhaustive's; the calls and rows the forwards no longer
// reach are not checked against the run's.
Zone ZoneProbe::classify_decided(const std::vector<std::vector<at::Tensor>>& low_masks,
                                 const train::ProbedStep& step) {
  torch::NoGradGuard no_grad;
  const int64_t batch = step.inputs.size(0);
  // Per row, whether any recorded mask has a tie in it (masks are batch-first; one that is not rules out
  // the rows).
  at::Tensor tied_rows = at::zeros({batch}, at::kBool);
  // index_select gives contiguous rows: a batch in another layout could take another convolution kernel.
  bool batch_first = step.inputs.device().is_cpu() && step.inputs.is_contiguous() && batch > 1;
  for (const auto& masks : low_masks)
    for (const auto& mask : masks) {
      if (!batch_first) break;
      if (mask.dim() == 0 || mask.size(0) != batch || !mask.device().is_cpu()) {
        batch_first = false;
        break;
      }
      if (mask.numel() > 0) tied_rows.logical_or_(mask.reshape({batch, -1}).any(1));
    }
  if (!batch_first || !separable_rows_) return *decide(low_masks, step, at::Tensor());
  const auto rows = tied_rows.nonzero().flatten();
  for (const auto& chunk : {rows.slice(0, 0, 1), rows.slice(0, 1)}) {
    if (chunk.numel() == 0) continue;
    const auto decided = decide(low_masks, step, chunk);
    if (!decided) return *decide(low_masks, step, at::Tensor());
    if (*decided == Zone::Bifurcation) return Zone::Bifurcation;
  }
  return Zone::Compensation;
}

namespace {

/// Thrown by the fp64 forward's record hooks when the rows it computes may not have the whole batch's bits.
struct RowsNotSeparable {};

}  // namespace

std::optional<Zone> ZoneProbe::decide(const std::vector<std::vector<at::Tensor>>& low_masks,
                                      const train::ProbedStep& step, const at::Tensor& rows) {
  const bool all_rows = !rows.defined();
  std::vector<std::vector<at::Tensor>> low(low_masks.size());
  std::vector<std::vector<bool>> tied(low_masks.size());
  int64_t pending = 0;
  for (size_t k = 0; k < low_masks.size(); ++k) {
    for (const auto& mask : low_masks[k]) {
      low[k].push_back(all_rows ? mask : mask.index_select(0, rows.to(mask.device())));
      tied[k].push_back(low[k].back().any().item<bool>());
      pending += tied[k].back() ? 1 : 0;
    }
  }
  if (pending == 0) return Zone::Compensation;

  std::optional<detail::RowSeparabilityObserver> observer;
  std::vector<size_t> calls(low.size(), 0);
  std::vector<nn::ScopedRecordHook> hooks;
  hooks.reserve(reference_recorded_.size());
  std::vector<const nn::TieCounter*> hooked;
  for (size_t k = 0; k < reference_recorded_.size(); ++k) {
    auto& counter = *reference_recorded_[k].counter;
    // A layer registered under two names is listed twice; its masks are the first entry's.
    if (std::find(hooked.begin(), hooked.end(), &counter) != hooked.end()) continue;
    hooked.push_back(&counter);
    counter.reset();
    counter.set_counting(nn::TieCounting::Record);
    hooks.emplace_back(counter, [&, k](const at::Tensor& high) {
      const size_t call = calls[k]++;
      ++work_.fp64_layer_calls;
      if (observer && (!observer->separable() || observer->observed() == 0)) throw RowsNotSeparable{};
      TORCH_CHECK(call < low[k].size(), "train.zone_probe: the fp64 forward called recorded layer ", k,
                  " more often than the run's forward (", low[k].size(), " times)");
      const auto& mask = low[k][call];
      TORCH_CHECK(mask.sizes() == high.sizes(), "train.zone_probe: recorded layer ", k, ", call ", call,
                  " has mask shape ", mask.sizes(), " in the run's forward vs ", high.sizes(), " in fp64");
      if (!tied[k][call]) return;
      if (mask.logical_and(high.to(mask.device())).any().item<bool>()) throw ZoneDecided{Zone::Bifurcation};
      if (--pending == 0) throw ZoneDecided{Zone::Compensation};
    });
  }
  struct Disable {
    const std::vector<models::NonsmoothLayer>& layers;
    ~Disable() {
      for (const auto& layer : layers) layer.counter->set_counting(nn::TieCounting::Off);
    }
  } disable{reference_recorded_};
  set_rng_state(step.device, rng_before_);
  // The low-precision input itself, widened exactly: input rounding is not what is classified.
  const auto input = (all_rows ? step.inputs : step.inputs.index_select(0, rows)).to(at::kDouble);
  ++work_.fp64_forwards;
  work_.fp64_rows += input.size(0);
  try {
    if (!all_rows) observer.emplace(input.size(0));
    reference_.forward(input);
    TORCH_CHECK(observer && !observer->separable(), "train.zone_probe: the fp64 forward called the recorded ",
                "layers fewer times than the run's forward");
  } catch (const ZoneDecided& decided) {
    return decided.zone;
  } catch (const RowsNotSeparable&) {
  } catch (const c10::Error&) {
    // An operator that cannot run on these rows alone (batch norm of one row) is not row-separable either;
    // a genuine error comes back from the whole batch's forward.
    if (!observer) throw;
  }
  // What broke the rows apart before the first recorded call will do so in every forward.
  int64_t reached = 0;
  for (auto c : calls) reached += static_cast<int64_t>(c);
  if (reached <= 1) separable_rows_ = false;
  return std::nullopt;
}

}  // namespace tiebreak::zones
