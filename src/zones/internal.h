#pragma once

// Helpers shared by the zones and divergence runs (private to src/zones).

#include "tiebreak/config/config.h"
#include "tiebreak/train/precision.h"
#include "tiebreak/train/task.h"

#include <torch/nn/module.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tiebreak::zones::detail {

std::string trim(const std::string& s);

/// `text` split at `separator`, each part trimmed; a trailing separator gives an empty last part.
std::vector<std::string> split(const std::string& text, char separator);

/// Whether `key` names a field of the config's `nonsmooth` section ("nonsmooth.beta", ...).
bool is_nonsmooth_key(const std::string& key);

/// `base` in `precision` with `key` set to `value` (and data.train_limit when positive), validated.
config::LoadedConfig variant(const config::LoadedConfig& base, config::Precision precision,
                             const std::string& key, const nlohmann::json& value, int64_t train_limit);

/// Parameters and buffers equal bit for bit (so −0 ≠ +0 and NaN equals itself).
bool bit_identical(const torch::nn::Module& a, const torch::nn::Module& b);

/// Test accuracy (fraction) in the plan's parameter dtype without autocast, as the trainer evaluates; the
/// module is left in training mode.
double test_accuracy(train::BatchSource& data, train::Model& model, const train::PrecisionPlan& plan,
                     const c10::Device& device);

}  // namespace tiebreak::zones::detail
