#include "tiebreak/models/nonsmooth_layers.h"

#include "tiebreak/nn/modules/activation.h"
#include "tiebreak/nn/modules/norm_pool.h"
#include "tiebreak/nn/modules/pooling.h"

#include <optional>

namespace tiebreak::models {
namespace {

// The layer's entry, or nullopt when `module` is no tiebreak nonsmooth layer.
std::optional<NonsmoothLayer> as_layer(const std::string& name,
                                       const std::shared_ptr<torch::nn::Module>& module,
                                       const torch::nn::Module& raw) {
  if (const auto* pool = dynamic_cast<const nn::MaxPool2dImpl*>(&raw)) {
    return NonsmoothLayer{name, NonsmoothKind::Pool, pool->counter(), module};
  }
  if (dynamic_cast<const nn::NormPool2dImpl*>(&raw) != nullptr) {
    return NonsmoothLayer{name, NonsmoothKind::Pool, nullptr, module};
  }
  if (const auto* relu = dynamic_cast<const nn::ReLUImpl*>(&raw)) {
    return NonsmoothLayer{name, NonsmoothKind::ReLU, relu->counter(), module};
  }
  return std::nullopt;
}

}  // namespace

std::string to_string(NonsmoothKind kind) { return kind == NonsmoothKind::Pool ? "pool" : "relu"; }

std::vector<NonsmoothLayer> nonsmooth_layers(const torch::nn::Module& model) {
  std::vector<NonsmoothLayer> layers;
  // The model itself may be a bare layer; it is not necessarily owned by a shared_ptr, so it is
  // looked at through the reference (module stays null for it).
  if (auto self = as_layer("", nullptr, model)) layers.push_back(std::move(*self));
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto layer = as_layer(item.key(), item.value(), *item.value())) layers.push_back(std::move(*layer));
  }
  return layers;
}

void set_tie_statistics(const torch::nn::Module& model, bool enabled) {
  for (const auto& layer : nonsmooth_layers(model)) {
    if (layer.counter) layer.counter->set_counting(enabled ? nn::TieCounting::Count : nn::TieCounting::Off);
  }
}

void reset_tie_statistics(const torch::nn::Module& model) {
  for (const auto& layer : nonsmooth_layers(model)) {
    if (layer.counter) layer.counter->reset();
  }
}

}  // namespace tiebreak::models
