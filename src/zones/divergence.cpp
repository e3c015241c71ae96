#include "tiebreak/zones/divergence.h"

#include "zones/internal.h"

#include "tiebreak/config/options.h"
#include "tiebreak/core/atomic_file.h"
#include "tiebreak/core/setting_error.h"
#include "tiebreak/train/checkpoint.h"
#include "tiebreak/train/engine.h"
#include "tiebreak/train/optimizer.h"
#include "tiebreak/train/precision.h"
#include "tiebreak/train/trainer.h"
#include "tiebreak/zones/classify.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

namespace tiebreak::zones {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Network {
  train::Model model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<train::DynamicLossScaler> scaler;
};

json record_json(const DivergenceRecord& r) {
  return {{"epoch", r.epoch}, {"weight_l1", r.weight_l1}, {"test_accuracy", r.test_accuracy}};
}

DivergenceRecord record_from_json(const json& j) {
  return {j.at("epoch").get<int64_t>(), j.at("weight_l1").get<std::vector<double>>(),
          j.at("test_accuracy").get<std::vector<double>>()};
}

// What a run computes: the `exp` section (device, output, logging) may change between sessions.
json without_exp(json config) {
  config.erase("exp");
  return config;
}

std::string value_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

DivergenceOptions DivergenceOptions::parse_values(const std::string& text) {
  TORCH_CHECK(text.find('=') != std::string::npos && text.front() != '=', text,
              ": expected key=v1,v2,... e.g. nonsmooth.beta=0,1,1000");
  const auto [key, values] = config::split_assignment(text);
  TORCH_CHECK(
      detail::is_nonsmooth_key(key), text,
      ": expected a key of the nonsmooth section (nonsmooth.pool, nonsmooth.beta, nonsmooth.formulation, ",
      "nonsmooth.grad_at_zero, nonsmooth.relu_alpha), got '", key, "'");
  const auto parts = detail::split(values, ',');
  TORCH_CHECK(parts.size() >= 2, text,
              ": expected at least two comma-separated values, the first being the reference, got '", values,
              "'");
  DivergenceOptions options;
  options.key = key;
  for (const auto& part : parts) {
    TORCH_CHECK(!part.empty(), text, ": empty value in '", values, "'");
    options.values.push_back(config::parse_value(part));
  }
  return options;
}

std::string DivergenceResult::csv() const {
  std::string out = "epoch,network,value,weight_l1,test_accuracy\n";
  for (const auto& r : records)
    for (size_t k = 0; k < values.size(); ++k)
      out += fmt::format("{},{},{},{:.17g},{:.6f}\n", r.epoch, k, value_text(values[k]), r.weight_l1[k],
                         r.test_accuracy[k]);
  return out;
}

json DivergenceResult::to_json() const {
  json rows = json::array();
  for (const auto& r : records) rows.push_back(record_json(r));
  return {{"key", key}, {"values", values}, {"lr", lr}, {"records", rows}};
}

std::string DivergenceResult::table() const {
  std::string out =
      fmt::format("weight divergence: {} (reference {}), lr {:.6g}\n", key, value_text(values.at(0)), lr);
  if (records.empty()) return out;
  const auto& last = records.back();
  out += fmt::format("{:>8} {:>10} {:>22} {:>14}\n", "network", "value", "|w - w_ref|_1", "test acc %");
  for (size_t k = 0; k < values.size(); ++k)
    out += fmt::format("{:>8} {:>10} {:>22.10g} {:>14.2f}\n", k, value_text(values[k]), last.weight_l1[k],
                       100 * last.test_accuracy[k]);
  out += fmt::format("after {} epochs\n", last.epoch);
  return out;
}

DivergenceResult run_divergence(const config::LoadedConfig& config, const DivergenceOptions& options,
                                const train::Components& components, std::ostream* log) {
  TORCH_CHECK(detail::is_nonsmooth_key(options.key),
              "diverge: key: expected a key of the nonsmooth section, got '", options.key, "'");
  TORCH_CHECK(options.values.size() >= 2, "diverge: values: expected at least two values, got ",
              options.values.size());
  TORCH_CHECK(options.epochs >= 0, "diverge: epochs: expected >= 0, got ", options.epochs);
  TORCH_CHECK(options.batch_limit >= 0, "diverge: batch_limit: expected >= 0, got ", options.batch_limit);
  TORCH_CHECK(options.lr_jitter >= 0 && std::isfinite(options.lr_jitter),
              "diverge: lr_jitter: expected a finite number >= 0, got ", options.lr_jitter);
  TORCH_CHECK(!options.resume || !options.out.empty(), "diverge: resuming needs an output directory (out)");

  const auto& cfg = config.config;
  train::apply_execution_settings(cfg.exp);
  const c10::Device device = train::resolve_device(cfg.exp.device);
  const auto precision = cfg.train.precision;
  const auto plan = train::plan_for(precision, config.config.train.half_compute);
  train::check_precision_kernels(plan, precision, device);
  const int64_t epochs = options.epochs > 0 ? options.epochs : cfg.train.epochs;
  const uint64_t seed = cfg.train.seed;
  const int64_t train_limit = options.batch_limit > 0 ? options.batch_limit * cfg.data.batch_size : 0;

  DivergenceResult result;
  result.key = options.key;
  result.values = options.values;
  {
    // One draw from the run's seed: every network trains with the same rate, as in the study.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    const double u = torch::rand({1}, gen, torch::kDouble).item<double>();
    result.lr = cfg.train.optimizer.lr * (1.0 + options.lr_jitter * u);
  }

  std::vector<config::LoadedConfig> configs;
  for (const auto& value : options.values)
    configs.push_back(detail::variant(config, precision, options.key, value, train_limit));
  auto data = components.make_data(
      configs[0].config, config::to_data_options(configs[0].config, seed, device, plan.parameter_dtype));
  std::vector<Network> nets(options.values.size());
  for (size_t k = 0; k < nets.size(); ++k) {
    nets[k].model = components.make_model(configs[k].config, *data, seed);
    TORCH_CHECK(nets[k].model.module, "diverge: the model factory returned no module");
    nets[k].model.module->to(device, plan.parameter_dtype);
    TORCH_CHECK(detail::bit_identical(*nets[0].model.module, *nets[k].model.module), "diverge: model '",
                cfg.model.name, "' was not built with bit-identical weights from one seed for ", options.key,
                "=", options.values[k].dump());
    nets[k].optimizer = train::make_optimizer(cfg.train.optimizer, nets[k].model.module->parameters());
    if (plan.loss_scaling)
      nets[k].scaler = std::make_unique<train::DynamicLossScaler>(cfg.train.loss_scale, device);
    nets[k].model.module->train();
  }

  auto checkpoint_of = [&](size_t k) { return options.out / fmt::format("checkpoint-{}.pt", k); };
  auto measure = [&](int64_t epoch) {
    DivergenceRecord r;
    r.epoch = epoch;
    const auto reference = nets[0].model.module->parameters();
    for (auto& net : nets) {
      r.weight_l1.push_back(discrepancy(net.model.module->parameters(), reference).l1);
      r.test_accuracy.push_back(train::evaluate(net.model, *data, plan, device, nullptr).accuracy);
      net.model.module->train();
    }
    return r;
  };
  auto persist = [&](int64_t epochs_done) {
    if (options.out.empty()) return;
    json meta = result.to_json();
    meta["epochs_done"] = epochs_done;
    meta["config"] = config.json;
    for (size_t k = 0; k < nets.size(); ++k)
      train::save_checkpoint(checkpoint_of(k),
                             {nets[k].model.module.get(), nets[k].optimizer.get(), nets[k].scaler.get()},
                             meta);
    tiebreak::write_text_atomically(options.out / "divergence.csv", result.csv());
    json document = result.to_json();
    document["epochs_done"] = epochs_done;
    document["epochs"] = epochs;
    document["lr_jitter"] = options.lr_jitter;
    document["config"] = config.json;
    document["device"] = device.str();
    tiebreak::write_text_atomically(options.out / "divergence.json", document.dump(2) + "\n");
  };

  int64_t start = 0;
  if (!options.out.empty()) fs::create_directories(options.out);
  if (options.resume && fs::exists(checkpoint_of(0))) {
    for (size_t k = 0; k < nets.size(); ++k) {
      const json meta = train::load_checkpoint(
          checkpoint_of(k), {nets[k].model.module.get(), nets[k].optimizer.get(), nets[k].scaler.get()});
      if (without_exp(meta.at("config")) != without_exp(config.json) ||
          meta.at("values") != json(options.values) || meta.at("key") != options.key) {
        throw core::SettingError(checkpoint_of(k).string() +
                                     ": written by a run with another config or values; resume with the same "
                                     "ones or choose another output directory",
                                 {core::Setting::RunDirectory});
      }
      if (k == 0) {
        start = meta.at("epochs_done").get<int64_t>();
        result.lr = meta.at("lr").get<double>();
        for (const auto& r : meta.at("records")) result.records.push_back(record_from_json(r));
      }
      TORCH_CHECK(meta.at("epochs_done").get<int64_t>() == start, checkpoint_of(k).string(), ": after epoch ",
                  meta.at("epochs_done").get<int64_t>(), ", not ", start,
                  " as the others: an interrupted write; start over without resuming");
    }
    if (log) *log << fmt::format("resumed from {} after {} epochs\n", options.out.string(), start);
  } else {
    result.records.push_back(measure(0));
    persist(0);
  }

  for (int64_t epoch = start; epoch < epochs; ++epoch) {
    const double lr = train::learning_rate_at(cfg.train.schedule, result.lr, epoch, epochs);
    for (auto& net : nets) train::set_learning_rate(*net.optimizer, lr);
    auto stream = data->epoch(data::Split::Train, epoch);
    for (int64_t index = 0; options.batch_limit <= 0 || index < options.batch_limit; ++index) {
      auto batch = stream->next();
      if (!batch) break;
      for (auto& net : nets)
        train::train_step(net.model, *net.optimizer, plan, device, *batch, net.scaler.get());
    }
    result.records.push_back(measure(epoch + 1));
    persist(epoch + 1);
    if (log) {
      const auto& r = result.records.back();
      std::string line = fmt::format("epoch {}/{}:", epoch + 1, epochs);
      for (size_t k = 1; k < nets.size(); ++k) line += fmt::format(" |w{} - w0|_1 {:.4g}", k, r.weight_l1[k]);
      *log << line << "\n";
    }
  }
  return result;
}

}  // namespace tiebreak::zones
