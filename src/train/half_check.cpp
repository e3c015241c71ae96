#include "tiebreak/train/half_check.h"

#include "tiebreak/config/options.h"
#include "tiebreak/models/nonsmooth_layers.h"
#include "tiebreak/precision/fp32_accumulate.h"
#include "tiebreak/train/precision.h"
#include "tiebreak/train/trainer.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <map>

namespace tiebreak::train {

namespace {

using config::Precision;

struct TieMasks {
  std::vector<at::Tensor> masks;  // one per pooling layer (this batch's single call)
  std::vector<int64_t> ties;
};

TieMasks tie_masks(Model& model, const std::vector<models::NonsmoothLayer>& pools, const at::Tensor& x,
                   bool fp32_accumulate) {
  torch::NoGradGuard no_grad;
  for (const auto& layer : pools) {
    layer.counter->reset();
    layer.counter->set_counting(nn::TieCounting::Record);
  }
  {
    precision::Fp32AccumulateGuard guard(fp32_accumulate);
    model.forward(x);
  }
  TieMasks out;
  for (const auto& layer : pools) {
    auto recorded = layer.counter->recorded();
    out.masks.push_back(recorded.empty() ? at::Tensor() : at::cat(recorded));
    out.ties.push_back(layer.counter->stats().ties);
    layer.counter->set_counting(nn::TieCounting::Off);
    layer.counter->reset();
  }
  return out;
}

std::map<std::string, at::Tensor> gradients_of_step(Model& model, const at::Tensor& x, const at::Tensor& y,
                                                    bool fp32_accumulate) {
  for (auto& p : model.module->parameters()) p.mutable_grad() = at::Tensor();
  at::Tensor loss;
  {
    precision::Fp32AccumulateGuard guard(fp32_accumulate);
    loss = torch::nn::functional::cross_entropy(model.forward(x), y);
  }
  loss.backward();
  std::map<std::string, at::Tensor> grads;
  for (const auto& item : model.module->named_parameters())
    if (item.value().grad().defined()) grads[item.key()] = item.value().grad().clone();
  return grads;
}

std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i)
      out += fmt::format(i == 0 ? "{:<{}}" : "  {:>{}}", cells[i], width[i]);
    out += "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::string error_text(double e) { return std::isfinite(e) ? fmt::format("{:.2f}", e) : "inf"; }

nlohmann::json error_json(double e) { return std::isfinite(e) ? nlohmann::json(e) : nlohmann::json(); }

}  // namespace

HalfCheckReport check_half_compute(const config::ExperimentConfig& config, const Components& components,
                                   const HalfCheckOptions& options) {
  const Precision precision = config.train.precision;
  TORCH_CHECK(precision == Precision::Fp16 || precision == Precision::Bf16,
              "half-check: train.precision: expected fp16 or bf16 (the whole model in 16 bits), got ",
              config::to_string(precision));
  TORCH_CHECK(options.batches >= 1, "half-check: batches: expected >= 1, got ", options.batches);
  apply_execution_settings(config.exp);
  const c10::Device device = resolve_device(config.exp.device);
  TORCH_CHECK(device.is_cpu(), "half-check: exp.device: expected the CPU (train.half_compute applies to CPU ",
              "tensors; CUDA's 16-bit kernels are used as they are), got ", device.str());
  const at::ScalarType dtype = plan_for(precision).parameter_dtype;

  auto data = components.make_data(config, config::to_data_options(config, config.train.seed, device, dtype));
  Model model = components.make_model(config, *data, config.train.seed);
  TORCH_CHECK(model.module && model.forward, "half-check: model '", config.model.name,
              "': the factory returned no module");
  model.module->to(device, dtype);
  // Training mode, as in a training step: batch norm normalises with the batch's statistics.
  model.module->train();
  std::vector<models::NonsmoothLayer> pools;
  for (const auto& layer : models::nonsmooth_layers(*model.module))
    if (layer.kind == models::NonsmoothKind::Pool && layer.counter) pools.push_back(layer);

  HalfCheckReport report;
  std::map<std::string, GradientAgreement> gradients;
  std::vector<std::string> gradient_order;
  int64_t batches = 0;
  int64_t examples = 0;
  auto stream = data->epoch(data::Split::Train, 0);
  while (batches < options.batches) {
    auto batch = stream->next();
    if (!batch) break;
    ++batches;
    const auto x = batch->images.to(device, dtype);
    const auto y = batch->labels.to(device);
    examples += x.size(0);

    // Running statistics change with every forward in training mode; the
    // weights do not (no optimizer step), and neither does a training-mode
    // forward depend on the running statistics.
    const TieMasks native = tie_masks(model, pools, x, false);
    const TieMasks fast = tie_masks(model, pools, x, true);
    for (size_t i = 0; i < pools.size(); ++i) {
      if (report.ties.size() <= i) report.ties.push_back({pools[i].name});
      auto& row = report.ties[i];
      row.ties_native += native.ties[i];
      row.ties_fp32_accumulate += fast.ties[i];
      if (native.masks[i].defined() && fast.masks[i].defined()) {
        row.windows += native.masks[i].numel();
        row.differing_windows += native.masks[i].ne(fast.masks[i]).sum().item<int64_t>();
      }
    }

    for (auto& p : model.module->parameters()) p.mutable_grad() = at::Tensor();
    precision::Fp32AccumulateProbe probe(*model.module);
    at::Tensor loss;
    {
      auto scope = probe.engage();
      loss = torch::nn::functional::cross_entropy(model.forward(x), y);
    }
    loss.backward();
    for (const auto& row : probe.comparisons()) precision::merge_comparison(report.operations, row);

    const auto grads_native = gradients_of_step(model, x, y, false);
    const auto grads_fast = gradients_of_step(model, x, y, true);
    torch::NoGradGuard no_grad;
    for (const auto& [name, g] : grads_native) {
      auto it = grads_fast.find(name);
      if (it == grads_fast.end()) continue;
      if (!gradients.count(name)) gradient_order.push_back(name);
      auto& row = gradients[name];
      row.parameter = name;
      const auto distance = precision::ulp_distance(g, it->second);
      row.elements += g.numel();
      row.differing += distance.gt(0).sum().item<int64_t>();
      row.max_ulp_distance = std::max(row.max_ulp_distance, distance.max().item<int64_t>());
    }
  }
  TORCH_CHECK(batches > 0, "half-check: data '", config.data.dataset,
              "': the training set produced no batches");
  for (auto& p : model.module->parameters()) p.mutable_grad() = at::Tensor();
  for (const auto& name : gradient_order) report.gradients.push_back(gradients[name]);
  report.description = fmt::format("{} on {}, {}, {} batch{} ({} examples), seed {}", config.model.name,
                                   data->describe(), config::to_string(precision), batches,
                                   batches == 1 ? "" : "es", examples, config.train.seed);
  return report;
}

std::string format_half_check(const HalfCheckReport& report) {
  std::string out = "half-check: " + report.description + "\n\n";
  out +=
      "Operators, native 16-bit kernels vs fp32 accumulation on the same operands (ulps of the 16-bit type;\n"
      "error: largest |result - fp64| in ulps, 0.5 = correctly rounded):\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : report.operations) {
    rows.push_back(
        {c.layer, c.op, c.product, std::to_string(c.elements), std::to_string(c.differing),
         c.max_ulp_distance == precision::kNanMismatch ? "NaN" : std::to_string(c.max_ulp_distance),
         error_text(c.native_max_error), error_text(c.fp32_accumulate_max_error)});
  }
  out += table({"layer", "op", "product", "elements", "differing", "max ulps", "native error",
                "fp32_accumulate error"},
               rows);
  out += "\nTie masks of the pooling layers, same weights and batch:\n";
  rows.clear();
  for (const auto& t : report.ties) {
    rows.push_back({t.layer, std::to_string(t.windows), std::to_string(t.ties_native),
                    std::to_string(t.ties_fp32_accumulate), std::to_string(t.differing_windows)});
  }
  out += table({"layer", "windows", "tied (native)", "tied (fp32_accumulate)", "differing windows"}, rows);
  out += "\nParameter gradients after one forward and backward of each path:\n";
  rows.clear();
  for (const auto& g : report.gradients) {
    rows.push_back(
        {g.parameter, std::to_string(g.elements), std::to_string(g.differing),
         g.max_ulp_distance == precision::kNanMismatch ? "NaN" : std::to_string(g.max_ulp_distance)});
  }
  out += table({"parameter", "elements", "differing", "max ulps"}, rows);
  return out;
}

nlohmann::json to_json(const HalfCheckReport& report) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& c : report.operations) {
    ops.push_back({{"layer", c.layer},
                   {"op", c.op},
                   {"product", c.product},
                   {"dtype", c.dtype},
                   {"calls", c.calls},
                   {"elements", c.elements},
                   {"differing", c.differing},
                   {"max_ulp_distance", c.max_ulp_distance},
                   {"native_max_error_ulp", error_json(c.native_max_error)},
                   {"fp32_accumulate_max_error_ulp", error_json(c.fp32_accumulate_max_error)}});
  }
  nlohmann::json ties = nlohmann::json::array();
  for (const auto& t : report.ties) {
    ties.push_back({{"layer", t.layer},
                    {"windows", t.windows},
                    {"ties_native", t.ties_native},
                    {"ties_fp32_accumulate", t.ties_fp32_accumulate},
                    {"differing_windows", t.differing_windows}});
  }
  nlohmann::json grads = nlohmann::json::array();
  for (const auto& g : report.gradients) {
    grads.push_back({{"parameter", g.parameter},
                     {"elements", g.elements},
                     {"differing", g.differing},
                     {"max_ulp_distance", g.max_ulp_distance}});
  }
  return {{"description", report.description}, {"operations", ops}, {"ties", ties}, {"gradients", grads}};
}

}  // namespace tiebreak::train
