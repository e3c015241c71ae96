#include "zones/internal.h"

#include "tiebreak/config/schema.h"

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
  return key.rfind("nonsmooth.", 0) == 0 && config::is_field(key);
}

config::LoadedConfig variant(const config::LoadedConfig& base, config::Precision precision,
                             const std::string& key, const json& value, int64_t train_limit) {
  const std::string source = base.source.empty() ? std::string("<config>") : base.source.string();
  config::LoadedConfig loaded;
  loaded.config = base.config;
  loaded.config.train.precision = precision;
  config::set_field(loaded.config, key, value, source + " with " + key + "=" + value.dump());
  if (train_limit > 0) loaded.config.data.train_limit = train_limit;
  loaded.json = config::to_json(loaded.config);
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

std::set<models::NonsmoothKind> layers_changed_by(const std::string& key) {
  const std::string field = key.substr(key.find('.') + 1);
  if (field == "relu_alpha") return {models::NonsmoothKind::ReLU};
  if (field == "pool") return {models::NonsmoothKind::Pool, models::NonsmoothKind::ReLU};
  return {models::NonsmoothKind::Pool};
}

std::vector<at::Tensor> gradients(const torch::nn::Module& module) {
  std::vector<at::Tensor> grads;
  for (const auto& p : module.parameters()) grads.push_back(p.grad());
  return grads;
}

void copy_state(const torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto pf = from.parameters(), pt = to.parameters();
  auto bf = from.buffers(), bt = to.buffers();
  TORCH_INTERNAL_ASSERT(pf.size() == pt.size() && bf.size() == bt.size());
  for (size_t k = 0; k < pf.size(); ++k) pt[k].copy_(pf[k]);
  for (size_t k = 0; k < bf.size(); ++k) bt[k].copy_(bf[k]);
}

std::vector<models::NonsmoothLayer> counted_layers(const torch::nn::Module& module) {
  std::vector<models::NonsmoothLayer> layers;
  for (auto& layer : models::nonsmooth_layers(module))
    if (layer.counter) layers.push_back(layer);
  return layers;
}

void set_counters(const std::vector<models::NonsmoothLayer>& layers, bool enabled,
                  const std::set<models::NonsmoothKind>& recorded) {
  for (const auto& layer : layers) {
    layer.counter->reset();
    layer.counter->set_counting(!enabled                         ? nn::TieCounting::Off
                                : recorded.count(layer.kind) > 0 ? nn::TieCounting::Record
                                                                 : nn::TieCounting::Count);
  }
}

std::vector<at::Tensor> recorded_masks(const std::vector<models::NonsmoothLayer>& layers) {
  std::vector<at::Tensor> masks;
  for (const auto& layer : layers) {
    if (!layer.counter->recording()) continue;
    auto recorded = layer.counter->recorded();
    masks.insert(masks.end(), recorded.begin(), recorded.end());
  }
  return masks;
}

}  // namespace tiebreak::zones::detail
