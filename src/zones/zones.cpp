#include "tiebreak/zones/zones.h"

#include "zones/internal.h"

#include "tiebreak/config/options.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/models/nonsmooth_layers.h"
#include "tiebreak/train/engine.h"
#include "tiebreak/train/optimizer.h"
#include "tiebreak/train/precision.h"
#include "tiebreak/train/trainer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <sstream>

namespace tiebreak::zones {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using detail::bit_identical;
using detail::copy_state;
using detail::counted_layers;
using detail::gradients;
using detail::layers_changed_by;
using detail::recorded_masks;
using detail::set_counters;
using detail::split;
using detail::trim;
using detail::variant;

struct Network {
  train::Model model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<train::DynamicLossScaler> scaler;
};

json interval_json(int64_t count, int64_t total, const Interval& ci) {
  return {{"count", count},
          {"fraction", total == 0 ? 0.0 : static_cast<double>(count) / total},
          {"ci95", {ci.low, ci.high}}};
}

json ties_json(const TieComparison& t) {
  return {{"low_precision", t.low},
          {"reference", t.high},
          {"surviving", t.surviving},
          {"created_by_rounding", t.created_by_rounding},
          {"broken_by_rounding", t.broken_by_rounding}};
}

}  // namespace

PairSpec PairSpec::parse(const std::string& text) {
  TORCH_CHECK(text.find('=') != std::string::npos && text.front() != '=', text,
              ": expected key=a,b e.g. nonsmooth.beta=0,1");
  const auto [key, values] = config::split_assignment(text);
  TORCH_CHECK(
      detail::is_nonsmooth_key(key), text,
      ": expected a key of the nonsmooth section (nonsmooth.pool, nonsmooth.beta, nonsmooth.formulation, ",
      "nonsmooth.grad_at_zero, nonsmooth.relu_alpha), got '", key, "'");
  auto parts = split(values, ',');
  TORCH_CHECK(parts.size() == 2 && !parts[0].empty() && !parts[1].empty(), text,
              ": expected two values separated by a comma (e.g. nonsmooth.beta=0,1), got '", values, "'");
  PairSpec spec;
  spec.key = key;
  spec.value_a = config::parse_value(parts[0]);
  spec.value_b = config::parse_value(parts[1]);
  return spec;
}

std::string PairSpec::describe() const { return key + "=" + value_a.dump() + " vs " + value_b.dump(); }

double default_threshold(config::Precision precision) {
  switch (precision) {
    case config::Precision::Fp16:
    case config::Precision::AmpFp16:
      return 1e-3;
    case config::Precision::Bf16:
    case config::Precision::AmpBf16:
      return 1e-2;
    case config::Precision::Fp32:
      return 1e-7;
    case config::Precision::Fp64:
      return 1e-15;
  }
  TORCH_INTERNAL_ASSERT(false, "unknown precision");
}

std::pair<int, int> study_histogram_range(config::Precision precision, nn::PoolKind pool) {
  const bool normpool = pool == nn::PoolKind::NormPool;
  switch (precision) {
    case config::Precision::Fp16:
    case config::Precision::Bf16:
      return {-8, normpool ? 2 : 1};
    case config::Precision::Fp32:
    case config::Precision::AmpFp16:
    case config::Precision::AmpBf16:
      return {-9, normpool ? 2 : 0};
    case config::Precision::Fp64:
      return {-18, -13};
  }
  TORCH_INTERNAL_ASSERT(false, "unknown precision");
}

std::map<config::Precision, double> parse_thresholds(const std::string& text) {
  std::map<config::Precision, double> thresholds;
  for (const auto& item : split(text, ',')) {
    const auto eq = item.find('=');
    TORCH_CHECK(eq != std::string::npos, item, ": expected PRECISION=VALUE, e.g. fp32=1e-7");
    const auto precision = core::parse_enum<config::Precision>(trim(item.substr(0, eq)), item);
    const std::string value = trim(item.substr(eq + 1));
    size_t used = 0;
    double v = -1;
    try {
      v = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TORCH_CHECK(used == value.size() && used > 0 && v >= 0 && std::isfinite(v), item,
                ": expected a finite number >= 0, got '", value, "'");
    thresholds[precision] = v;
  }
  return thresholds;
}

ZonesResult run_zones(const config::LoadedConfig& config, const ZonesOptions& options,
                      const train::Components& components, std::ostream* log) {
  TORCH_CHECK(!options.pair.key.empty(),
              "zones: pair: expected a key of the nonsmooth section and two values (e.g. "
              "nonsmooth.beta=0,1), got none");
  TORCH_CHECK(!options.precisions.empty(), "zones: precisions: expected at least one precision");
  TORCH_CHECK(options.epochs >= 1, "zones: epochs: expected >= 1, got ", options.epochs);
  TORCH_CHECK(options.batch_limit >= 0, "zones: batch_limit: expected >= 0, got ", options.batch_limit);

  config::ExpConfig exp = config.config.exp;
  exp.deterministic = !options.nondeterministic;
  train::apply_execution_settings(exp);
  const c10::Device device = train::resolve_device(exp.device);
  const uint64_t base_seed = config.config.train.seed;
  const auto recorded_kinds = layers_changed_by(options.pair.key);

  ZonesResult result;
  result.description = options.pair.describe();
  if (!options.out.empty()) fs::create_directories(options.out);

  for (const auto precision : options.precisions) {
    const int64_t train_limit =
        options.batch_limit > 0 ? options.batch_limit * config.config.data.batch_size : 0;
    const auto config_a = variant(config, precision, options.pair.key, options.pair.value_a, train_limit);
    const auto config_b = variant(config, precision, options.pair.key, options.pair.value_b, train_limit);
    const auto plan = train::plan_for(precision, config.config.train.half_compute);
    train::check_precision_kernels(plan, precision, device);
    // In fp64 there is no higher precision to resolve a tie with; once trained, the weights differ and the
    // discrepancy no longer isolates the Jacobian choice, so neither is classified.
    const bool classify_here = options.classify && !options.train && precision != config::Precision::Fp64;

    PrecisionSummary summary;
    summary.precision = precision;
    summary.initializations = precision == config::Precision::Fp64 ? config.config.zones.initializations_fp64
                                                                   : config.config.zones.initializations;
    const auto [low_exponent, high_exponent] = study_histogram_range(precision, config.config.nonsmooth.pool);
    summary.study_histogram = StudyHistogram(low_exponent, high_exponent);
    auto threshold_it = options.thresholds.find(precision);
    summary.threshold =
        threshold_it != options.thresholds.end() ? threshold_it->second : default_threshold(precision);

    for (int64_t init = 0; init < summary.initializations; ++init) {
      const uint64_t seed = base_seed + static_cast<uint64_t>(init);
      auto data = components.make_data(
          config_a.config, config::to_data_options(config_a.config, seed, device, plan.parameter_dtype));
      Network a, b;
      a.model = components.make_model(config_a.config, *data, seed);
      b.model = components.make_model(config_b.config, *data, seed);
      TORCH_CHECK(a.model.module && b.model.module, "zones: the model factory returned no module");
      a.model.module->to(device, plan.parameter_dtype);
      b.model.module->to(device, plan.parameter_dtype);
      TORCH_CHECK(bit_identical(*a.model.module, *b.model.module), "zones: model '", config.config.model.name,
                  "' was not built with bit-identical weights from one seed for ", options.pair.describe());
      for (auto* net : {&a, &b}) {
        net->optimizer =
            train::make_optimizer(config_a.config.train.optimizer, net->model.module->parameters());
        if (plan.loss_scaling)
          net->scaler = std::make_unique<train::DynamicLossScaler>(config_a.config.train.loss_scale, device);
        net->model.module->train();
      }
      train::Model reference;
      std::vector<models::NonsmoothLayer> reference_layers;
      if (classify_here) {
        reference = components.make_model(config_a.config, *data, seed);
        reference.module->to(device, at::kDouble);
        reference.module->train();
        reference_layers = counted_layers(*reference.module);
      }
      const auto layers_a = counted_layers(*a.model.module);
      set_counters(counted_layers(*b.model.module), false, {});
      if (result.layer_names.empty())
        for (const auto& layer : layers_a) result.layer_names.push_back(layer.name);
      if (summary.layers.empty())
        for (const auto& layer : layers_a)
          summary.layers.push_back({layer.name, models::to_string(layer.kind), 0, 0, 0});

      for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
        if (options.train) {
          const double lr = train::learning_rate_at(
              config_a.config.train.schedule, config_a.config.train.optimizer.lr, epoch, options.epochs);
          train::set_learning_rate(*a.optimizer, lr);
          train::set_learning_rate(*b.optimizer, lr);
        }
        int64_t index = 0;
        auto stream = data->epoch(data::Split::Train, epoch);
        while (options.batch_limit <= 0 || index < options.batch_limit) {
          auto batch = stream->next();
          if (!batch) break;
          BatchRecord record;
          record.precision = precision;
          record.initialization = init;
          record.epoch = epoch;
          record.batch = index++;
          auto x = batch->images.to(device, plan.parameter_dtype);
          auto y = batch->labels.to(device);
          std::vector<at::Tensor> low_masks;
          for (auto* net : {&a, &b}) {
            const bool is_a = net == &a;
            // Only a's forward is counted: in the default (learning rate 0) mode both forwards are identical.
            set_counters(layers_a, is_a,
                         is_a && classify_here ? recorded_kinds : std::set<models::NonsmoothKind>{});
            net->optimizer->zero_grad();
            const at::Tensor loss = train::forward_loss(net->model, plan, device, x, y).loss;
            if (is_a) {
              for (size_t k = 0; k < layers_a.size(); ++k) {
                const auto stats = layers_a[k].counter->stats();
                record.layer_ties.push_back(stats.ties);
                summary.layers[k].points += stats.points;
                summary.layers[k].ties += stats.ties;
                summary.layers[k].max_ties = std::max(summary.layers[k].max_ties, stats.max_ties);
              }
              low_masks = recorded_masks(layers_a);
            }
            train::backward(loss, net->scaler.get());
            // D compares true gradients: unscaled before the update (which then does not unscale again).
            if (net->scaler) net->scaler->unscale_(*net->optimizer);
            (is_a ? record.loss_a : record.loss_b) = loss.detach().to(at::kDouble).item<double>();
          }
          set_counters(layers_a, false, {});
          record.d = discrepancy(gradients(*a.model.module), gradients(*b.model.module));

          if (!std::isfinite(record.d.linf) || !std::isfinite(record.d.l1)) {
            ++summary.non_finite;
          } else {
            ++summary.batches;
            summary.histogram.add(record.d.linf);
            summary.study_histogram.add(record.d.l1);
            if (record.d.linf > 0) ++summary.nonzero;
            record.above_threshold = record.d.linf > summary.threshold;
            if (record.above_threshold) ++summary.above_threshold;
            const TieComparison* ties = nullptr;
            if (classify_here && record.d.linf > 0) {
              torch::NoGradGuard no_grad;
              copy_state(*a.model.module, *reference.module);
              set_counters(reference_layers, true, recorded_kinds);
              // The low-precision input itself, widened exactly: input rounding is not what is being
              // classified.
              reference.forward(x.to(at::kDouble));
              record.ties = compare_tie_masks(low_masks, recorded_masks(reference_layers));
              set_counters(reference_layers, false, {});
              summary.ties += record.ties;
              ties = &record.ties;
            }
            record.zone = classify(record.d.linf, ties);
            if (record.zone == Zone::Bifurcation) ++summary.bifurcation;
            if (record.zone == Zone::Compensation) ++summary.compensation;
            if (record.zone == Zone::Unresolved) ++summary.unresolved;
          }

          for (auto* net : {&a, &b}) {
            if (options.train) {
              train::apply_update(*net->optimizer, net->scaler.get());
            } else if (net->scaler) {
              net->scaler->update();  // the scale still follows the overflows, as it would in training
            }
          }
          result.batches.push_back(std::move(record));
        }

        if (options.train) {
          EpochRecord row;
          row.precision = precision;
          row.initialization = init;
          row.epoch = epoch + 1;
          row.weight_l1 = discrepancy(a.model.module->parameters(), b.model.module->parameters()).l1;
          row.test_accuracy_a = train::evaluate(a.model, *data, plan, device, nullptr).accuracy;
          row.test_accuracy_b = train::evaluate(b.model, *data, plan, device, nullptr).accuracy;
          a.model.module->train();
          b.model.module->train();
          summary.epochs.push_back(row);
          if (log)
            *log << fmt::format(
                "[{}] epoch {}/{}: |w_a - w_b|_1 = {:.6g}, test accuracy {:.2f}% vs {:.2f}%\n",
                config::to_string(precision), epoch + 1, options.epochs, row.weight_l1,
                100 * row.test_accuracy_a, 100 * row.test_accuracy_b);
        }
      }
      if (log && summary.initializations > 1 && ((init + 1) % 10 == 0 || init + 1 == summary.initializations))
        *log << fmt::format("[{}] initialization {}/{} done\n", config::to_string(precision), init + 1,
                            summary.initializations);
    }
    summary.nonzero_ci = wilson_interval(summary.nonzero, summary.batches);
    summary.above_threshold_ci = wilson_interval(summary.above_threshold, summary.batches);
    if (log)
      *log << fmt::format("[{}] {} mini-batches: D > 0 in {:.2f}%, D > {:g} in {:.2f}%\n",
                          config::to_string(precision), summary.batches, 100 * summary.volume(),
                          summary.threshold, 100 * summary.volume_above_threshold());
    result.summaries.push_back(std::move(summary));
    if (!options.out.empty()) {
      // Rewritten after each precision, so a long run leaves its finished precisions behind.
      json document = result.to_json();
      document["config"] = config.json;
      document["options"] = {{"epochs", options.epochs},
                             {"train", options.train},
                             {"nondeterministic", options.nondeterministic},
                             {"batch_limit", options.batch_limit},
                             {"device", device.str()},
                             {"classify", options.classify}};
      tiebreak::write_text_atomically(options.out / "zones.csv", result.batches_csv());
      tiebreak::write_text_atomically(options.out / "zones.json", document.dump(2) + "\n");
      if (options.train)
        tiebreak::write_text_atomically(options.out / "divergence.csv", result.divergence_csv());
    }
  }
  return result;
}

nlohmann::json ZonesResult::to_json() const {
  json precisions = json::array();
  for (const auto& s : summaries) {
    json layers = json::array();
    for (const auto& l : s.layers)
      layers.push_back({{"name", l.name},
                        {"kind", l.kind},
                        {"points", l.points},
                        {"ties", l.ties},
                        {"tie_fraction", l.points == 0 ? 0.0 : static_cast<double>(l.ties) / l.points},
                        {"max_ties", l.max_ties}});
    json epochs = json::array();
    for (const auto& e : s.epochs)
      epochs.push_back({{"initialization", e.initialization},
                        {"epoch", e.epoch},
                        {"weight_l1", e.weight_l1},
                        {"test_accuracy_a", e.test_accuracy_a},
                        {"test_accuracy_b", e.test_accuracy_b}});
    precisions.push_back(
        {{"precision", config::to_string(s.precision)},
         {"initializations", s.initializations},
         {"threshold", s.threshold},
         {"batches", s.batches},
         {"non_finite", s.non_finite},
         {"volume", interval_json(s.nonzero, s.batches, s.nonzero_ci)},
         {"volume_above_threshold", interval_json(s.above_threshold, s.batches, s.above_threshold_ci)},
         {"histogram", s.histogram.to_json()},
         {"study_histogram",
          [&] {
            auto h = s.study_histogram.to_json();
            h["discrepancy"] = "l1";
            return h;
          }()},
         {"zones",
          {{"bifurcation", s.bifurcation},
           {"compensation", s.compensation},
           {"unresolved", s.unresolved},
           {"none", s.batches - s.nonzero}}},
         {"ties", ties_json(s.ties)},
         {"layers", layers},
         {"epochs", epochs}});
  }
  // "discrepancy": what the volumes and `histogram` measure; `study_histogram` is D₁ (its own field says so).
  return {{"pair", description}, {"discrepancy", "linf"}, {"precisions", precisions}};
}

std::string ZonesResult::batches_csv() const {
  std::string out =
      "precision,initialization,epoch,batch,d_inf,d_1,loss_a,loss_b,above_threshold,zone,ties_low,"
      "ties_reference,ties_surviving,ties_created_by_rounding,ties_broken_by_rounding";
  for (const auto& name : layer_names) out += ",ties." + (name.empty() ? std::string("model") : name);
  out += "\n";
  for (const auto& r : batches) {
    out += fmt::format("{},{},{},{},{:.17g},{:.17g},{:.17g},{:.17g},{},{},{},{},{},{},{}",
                       config::to_string(r.precision), r.initialization, r.epoch + 1, r.batch, r.d.linf,
                       r.d.l1, r.loss_a, r.loss_b, r.above_threshold ? 1 : 0, to_string(r.zone), r.ties.low,
                       r.ties.high, r.ties.surviving, r.ties.created_by_rounding, r.ties.broken_by_rounding);
    for (const auto t : r.layer_ties) out += fmt::format(",{}", t);
    out += "\n";
  }
  return out;
}

std::string ZonesResult::divergence_csv() const {
  std::string out = "precision,initialization,epoch,weight_l1,test_accuracy_a,test_accuracy_b\n";
  for (const auto& s : summaries)
    for (const auto& e : s.epochs)
      out += fmt::format("{},{},{},{:.17g},{:.6f},{:.6f}\n", config::to_string(s.precision), e.initialization,
                         e.epoch, e.weight_l1, e.test_accuracy_a, e.test_accuracy_b);
  return out;
}

std::string ZonesResult::table() const {
  std::string out = fmt::format("zones: {}\n", description);
  out += fmt::format("{:<9} {:>8} {:>26} {:>10} {:>26} {:>12} {:>12} {:>10} {:>9} {:>9}\n", "precision",
                     "batches", "D>0 % (95% CI)", "threshold", "D>thr % (95% CI)", "bifurcation",
                     "compensation", "unresolved", "ties+rnd", "ties-rnd");
  for (const auto& s : summaries) {
    out += fmt::format("{:<9} {:>8} {:>26} {:>10.0e} {:>26} {:>12} {:>12} {:>10} {:>9} {:>9}\n",
                       config::to_string(s.precision), s.batches,
                       fmt::format("{:.2f} [{:.2f}, {:.2f}]", 100 * s.volume(), 100 * s.nonzero_ci.low,
                                   100 * s.nonzero_ci.high),
                       s.threshold,
                       fmt::format("{:.2f} [{:.2f}, {:.2f}]", 100 * s.volume_above_threshold(),
                                   100 * s.above_threshold_ci.low, 100 * s.above_threshold_ci.high),
                       s.bifurcation, s.compensation, s.unresolved, s.ties.created_by_rounding,
                       s.ties.broken_by_rounding);
    if (s.non_finite > 0)
      out += fmt::format("          ({} mini-batches with non-finite gradients left out)\n", s.non_finite);
  }
  for (const auto& s : summaries) {
    out +=
        fmt::format("log10 D∞ histogram ({}): zeros {}", config::to_string(s.precision), s.histogram.zeros());
    for (const auto& [e, count] : s.histogram.bins()) out += fmt::format(", [1e{},1e{}) {}", e - 1, e, count);
    out += "\n";
  }
  for (const auto& s : summaries) {
    const auto& h = s.study_histogram;
    out += fmt::format("D₁ in the study's bins ({}, {} initialization{}): zeros {:.3g}% of {}",
                       config::to_string(s.precision), s.initializations, s.initializations == 1 ? "" : "s",
                       h.zero_percent(), h.samples());
    for (const auto& bar : h.bars()) out += fmt::format(", {} {:.3g}%", bar.exponent, bar.percent);
    if (h.below_range() + h.above_range() > 0)
      out += fmt::format(" ({} below 1e{}, {} above 1e{})", h.below_range(), h.low_exponent(),
                         h.above_range(), h.high_exponent() - 1);
    out += "\n";
  }
  return out;
}

}  // namespace tiebreak::zones
