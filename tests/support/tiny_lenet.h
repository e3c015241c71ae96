#pragma once

#include "tiebreak/config/config.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace tiebreak::testing {

/// The sizes of the tests' tiny LeNet task.
struct TinyLenet {
  int64_t train_size = 256;
  int64_t test_size = 128;
  int64_t classes = 4;
  int64_t batch_size = 32;
  int64_t test_batch_size = 64;
  int64_t epochs = 2;
};

/// The tests' tiny LeNet task as a config document: tiebreak's own LeNet-5 (no batch norm) on the
/// `synthetic` dataset (1x28x28, no files needed), SGD at 0.05 with momentum 0.9, deterministic on one CPU
/// thread; then `overrides` (dotted assignments, as --set takes them).
inline nlohmann::json tiny_lenet_json(const TinyLenet& t = {},
                                      const std::vector<std::string>& overrides = {}) {
  nlohmann::json j = {
      {"data",
       {{"dataset", "synthetic"},
        {"batch_size", t.batch_size},
        {"test_batch_size", t.test_batch_size},
        {"synthetic",
         {{"train_size", t.train_size},
          {"test_size", t.test_size},
          {"classes", t.classes},
          {"shape", {1, 28, 28}}}}}},
      {"model", {{"name", "lenet5"}, {"batch_norm", false}}},
      {"train", {{"epochs", t.epochs}, {"optimizer", {{"name", "sgd"}, {"lr", 0.05}, {"momentum", 0.9}}}}},
      {"exp", {{"device", "cpu"}, {"deterministic", true}, {"threads", 1}}}};
  for (const auto& o : overrides) config::apply_override(j, o);
  return j;
}

/// The tiny LeNet task, validated as the CLI would load it.
inline config::LoadedConfig tiny_lenet_config(const TinyLenet& t = {},
                                              const std::vector<std::string>& overrides = {}) {
  return config::config_from_json(tiny_lenet_json(t, overrides), "tiny-lenet");
}

/// The tiny LeNet task written to `path` (a config file for the built CLI); returns `path`.
inline std::filesystem::path write_tiny_lenet(const std::filesystem::path& path, const TinyLenet& t = {},
                                              const std::vector<std::string>& overrides = {}) {
  std::ofstream(path) << tiny_lenet_json(t, overrides).dump(2);
  return path;
}

}  // namespace tiebreak::testing
