#include "tiebreak/data/registry.h"

#include "tiebreak/data/cifar.h"
#include "tiebreak/data/error.h"
#include "tiebreak/data/idx.h"
#include "tiebreak/data/imagenet.h"
#include "tiebreak/data/io.h"
#include "tiebreak/data/svhn.h"
#include "tiebreak/data/synthetic.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

namespace tiebreak::data {

namespace fs = std::filesystem;

namespace {

// Debian's dataset-fashion-mnist installs the complete set here.
const char* const kDebianFashionMnist = "/usr/share/datasets/fashion-mnist";

struct Registry {
  std::mutex mutex;
  std::map<std::string, DatasetFactory> factories;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    auto idx = [](const DataOptions& o) -> std::shared_ptr<Dataset> { return make_idx_dataset(o); };
    auto cifar = [](const DataOptions& o) -> std::shared_ptr<Dataset> { return make_cifar_dataset(o); };
    reg->factories["mnist"] = idx;
    reg->factories["fashion-mnist"] = idx;
    reg->factories["kmnist"] = idx;
    reg->factories["cifar-10"] = cifar;
    reg->factories["cifar-100"] = cifar;
    reg->factories["svhn"] = [](const DataOptions& o) -> std::shared_ptr<Dataset> {
      return make_svhn_dataset(o);
    };
    reg->factories["synthetic"] = [](const DataOptions& o) -> std::shared_ptr<Dataset> {
      return make_synthetic_dataset(o);
    };
    reg->factories["imagenet"] = [](const DataOptions& o) -> std::shared_ptr<Dataset> {
      return std::make_shared<ImageNetDataset>(o);
    };
    return reg;
  }();
  return *r;
}

std::string squash(const std::string& name) {
  std::string out;
  for (char ch : name) {
    if (ch == '-' || ch == '_' || ch == ' ') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  }
  return out;
}

}  // namespace

fs::path resolve_data_root(const std::string& explicit_root) {
  if (!explicit_root.empty()) return fs::path(explicit_root);
  if (const char* env = std::getenv("TIEBREAK_DATA"); env != nullptr && *env != '\0') return fs::path(env);
  return fs::path("data");
}

fs::path dataset_dir(const std::string& name, const fs::path& root) {
  const std::string canonical = canonical_dataset_name(name);
  fs::path dir = root / canonical;
  if (canonical == "fashion-mnist" && find_maybe_gz(dir, "train-images-idx3-ubyte").empty() &&
      !find_maybe_gz(kDebianFashionMnist, "train-images-idx3-ubyte").empty()) {
    return fs::path(kDebianFashionMnist);
  }
  return dir;
}

std::string canonical_dataset_name(const std::string& name) {
  const std::string key = squash(name);
  auto& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  for (const auto& [registered, factory] : reg.factories) {
    if (squash(registered) == key) return registered;
  }
  static const std::map<std::string, std::string> aliases = {
      {"fmnist", "fashion-mnist"}, {"ilsvrc2012", "imagenet"}, {"svhncropped", "svhn"}};
  if (auto it = aliases.find(key); it != aliases.end()) return it->second;
  std::string known;
  for (const auto& [registered, factory] : reg.factories) known += (known.empty() ? "" : ", ") + registered;
  throw DataError("data.dataset: unknown dataset \"" + name + "\", expected one of " + known);
}

std::vector<std::string> dataset_names() {
  auto& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  std::vector<std::string> names;
  for (const auto& [name, factory] : reg.factories) names.push_back(name);
  return names;
}

void register_dataset(const std::string& name, DatasetFactory factory) {
  TIEBREAK_DATA_CHECK(!name.empty() && factory, "register_dataset: expected a name and a factory");
  auto& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  reg.factories[name] = std::move(factory);
}

std::shared_ptr<Dataset> make_dataset(const std::string& name, DataOptions options) {
  options.name(canonical_dataset_name(name));
  DatasetFactory factory;
  {
    auto& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mutex);
    factory = reg.factories.at(options.name());
  }
  return factory(options);
}

std::shared_ptr<Dataset> make_dataset(const DataOptions& options) {
  return make_dataset(options.name(), options);
}

}  // namespace tiebreak::data
