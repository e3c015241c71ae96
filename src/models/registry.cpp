#include "tiebreak/models/registry.h"

#include "tiebreak/models/densenet.h"
#include "tiebreak/models/lenet.h"
#include "tiebreak/models/resnet.h"
#include "tiebreak/models/vgg.h"

#include <c10/util/Exception.h>

#include <map>
#include <mutex>

namespace tiebreak::models {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, ModelFactory> factories;
};

Registry& registry() {
  static Registry* instance = [] {
    auto* r = new Registry;
    r->factories["lenet5"] = [](const ModelOptions& o) { return torch::nn::AnyModule(LeNet5(o)); };
    for (int64_t depth : {11, 13, 16, 19}) {
      r->factories["vgg" + std::to_string(depth)] = [depth](const ModelOptions& o) {
        return torch::nn::AnyModule(VGG(depth, o));
      };
    }
    for (int64_t depth : {18, 34, 50}) {
      r->factories["resnet" + std::to_string(depth)] = [depth](const ModelOptions& o) {
        return torch::nn::AnyModule(ResNet(depth, o));
      };
    }
    r->factories["densenet121"] = [](const ModelOptions& o) { return torch::nn::AnyModule(DenseNet(o)); };
    return r;
  }();
  return *instance;
}

std::string joined_names() {
  std::string names;
  for (const auto& name : model_names()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

}  // namespace

torch::nn::AnyModule make_model(const ModelOptions& options) {
  ModelFactory factory;
  {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.factories.find(options.name());
    if (it != r.factories.end()) factory = it->second;
  }
  TORCH_CHECK(factory, "model: unknown name \"", options.name(), "\", expected one of: ", joined_names());
  return factory(options);
}

torch::nn::AnyModule make_model(const std::string& name, ModelOptions options) {
  return make_model(options.name(name));
}

std::vector<std::string> model_names() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& entry : r.factories) names.push_back(entry.first);
  return names;
}

void register_model(const std::string& name, ModelFactory factory) {
  TORCH_CHECK(!name.empty(), "models::register_model: expected a non-empty name");
  TORCH_CHECK(factory, "models::register_model: expected a factory for \"", name,
              "\", got an empty function");
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  TORCH_CHECK(r.factories.emplace(name, std::move(factory)).second, "models::register_model: \"", name,
              "\" is already registered");
}

}  // namespace tiebreak::models
