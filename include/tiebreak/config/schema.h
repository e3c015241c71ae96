#pragma once

#include "tiebreak/config/config.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tiebreak::config {

/// One key of the config schema, as the field tables in config.cpp declare it.
struct FieldInfo {
  /// The dotted JSON path, e.g. "model.stem_pool.kernel" (the struct member has the same path).
  std::string key;
  /// What a value must be, as errors say it: "a positive integer", "one of pure|mixture".
  std::string expected;
  /// The value a config without the key gets (for train.optimizer.lr and .weight_decay: sgd's; the
  /// adaptive optimizers default to 1e-3, and adamw/innaprop to a weight decay of 0.01).
  nlohmann::json default_value;
};

/// Every key of the schema (leaves only; `sweep.grid` is one key), in the field tables' order: what
/// `--set`, `--grid`, `--pair` and `sweep.grid` may name, and what docs/training.md's config table lists
/// (a test holds the two equal).
const std::vector<FieldInfo>& schema_fields();

/// Whether `key` is a key of schema_fields().
bool is_field(const std::string& key);

/// Sets one field of a typed config from a JSON value with that field's own check, without a round trip
/// through JSON text: `set_field(c, "nonsmooth.beta", 1000, "zones")`. Throws ConfigError naming `source`,
/// the key and what was expected (`zones: nonsmooth.beta: expected a finite number, got "x"`), or that
/// `key` is not a config key. Checks across fields (nesterov needs momentum, ...) are not rerun.
void set_field(ExperimentConfig& config, const std::string& key, const nlohmann::json& value,
               const std::string& source);

}  // namespace tiebreak::config
