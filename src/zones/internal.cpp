#include "zones/internal.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <set>
#include <sstream>

namespace tiebreak::zones::detail {

using nlohmann::json;

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(trim(part));
  if (!text.empty() && text.back() == separator) parts.push_back("");
  return parts;
}

bool is_nonsmooth_key(const std::string& key) {
  static const std::set<std::string> fields{"pool", "beta", "formulation", "grad_at_zero", "relu_alpha"};
  return key.rfind("nonsmooth.", 0) == 0 && fields.count(key.substr(10)) > 0;
}

config::LoadedConfig variant(const config::LoadedConfig& base, config::Precision precision,
                             const std::string& key, const json& value, int64_t train_limit) {
  json document = base.json;
  config::apply_override(document, "train.precision=" + config::to_string(precision));
  config::apply_override(document, key + "=" + value.dump());
  if (train_limit > 0) config::apply_override(document, "data.train_limit=" + std::to_string(train_limit));
  const std::string source = base.source.empty() ? std::string("<config>") : base.source.string();
  auto loaded = config::config_from_json(document, source + " with " + key + "=" + value.dump());
  loaded.source = base.source;
  return loaded;
}

bool bit_identical(const torch::nn::Module& a, const torch::nn::Module& b) {
  auto pa = a.parameters(), pb = b.parameters();
  auto ba = a.buffers(), bb = b.buffers();
  if (pa.size() != pb.size() || ba.size() != bb.size()) return false;
  pa.insert(pa.end(), ba.begin(), ba.end());
  pb.insert(pb.end(), bb.begin(), bb.end());
  for (size_t k = 0; k < pa.size(); ++k) {
    if (pa[k].sizes() != pb[k].sizes() || pa[k].scalar_type() != pb[k].scalar_type()) return false;
    // Compare bits, not values: equal() would call −0 and +0 equal and NaN unequal to itself.
    auto x = pa[k].contiguous(), y = pb[k].contiguous();
    if (x.numel() > 0 && !at::equal(x.view(at::kByte), y.view(at::kByte))) return false;
  }
  return true;
}

// Test accuracy in the parameters' dtype without autocast (train::evaluation_plan), as the trainer evaluates.
double test_accuracy(train::BatchSource& data, train::Model& model, const train::PrecisionPlan& plan,
                     const c10::Device& device) {
  torch::NoGradGuard no_grad;
  model.module->eval();
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
  int64_t seen = 0;
  data.for_each_test_batch([&](const train::Batch& batch) {
    auto x = batch.inputs.to(device, plan.parameter_dtype);
    auto y = batch.targets.to(device);
    train::PrecisionGuard guard(train::evaluation_plan(plan), device.type());
    correct += model.forward(x).argmax(1).eq(y).sum();
    seen += y.size(0);
  });
  model.module->train();
  return seen == 0 ? 0.0 : static_cast<double>(correct.item<int64_t>()) / seen;
}

}  // namespace tiebreak::zones::detail
