#pragma once

// Helpers shared by the zones and divergence runs (private to src/zones).

#include "tiebreak/config/config.h"
#include "tiebreak/models/nonsmooth_layers.h"
#include "tiebreak/train/precision.h"
#include "tiebreak/train/task.h"

#include <torch/nn/module.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

namespace tiebreak::zones::detail {

std::string trim(const std::string& s);

/// `text` split at `separator`, each part trimmed; a trailing separator gives an empty last part.
std::vector<std::string> split(const std::string& text, char separator);

/// Whether `key` names a field of the config's `nonsmooth` section ("nonsmooth.beta", ...).
bool is_nonsmooth_key(const std::string& key);

/// `base` in `precision` with `key` set to `value` (checked as that field; and data.train_limit when
/// positive).
config::LoadedConfig variant(const config::LoadedConfig& base, config::Precision precision,
                             const std::string& key, const nlohmann::json& value, int64_t train_limit);

/// Parameters and buffers equal bit for bit (so −0 ≠ +0 and NaN equals itself).
bool bit_identical(const torch::nn::Module& a, const torch::nn::Module& b);

/// The kinds of layers whose Jacobian `key` (a nonsmooth key) changes: only their ties can make two gradients
/// differ.
std::set<models::NonsmoothKind> layers_changed_by(const std::string& key);

/// Every parameter's .grad, in parameters() order (undefined where the loss did not reach).
std::vector<at::Tensor> gradients(const torch::nn::Module& module);

/// Copies parameters and buffers (same architecture, any dtypes) from `from` into `to`.
void copy_state(const torch::nn::Module& from, torch::nn::Module& to);

/// The nonsmooth layers of `module` that have a tie counter.
std::vector<models::NonsmoothLayer> counted_layers(const torch::nn::Module& module);

/// Resets the counters of `layers`, enables or disables them, and records the masks of the kinds in
/// `recorded` while enabled.
void set_counters(const std::vector<models::NonsmoothLayer>& layers, bool enabled,
                  const std::set<models::NonsmoothKind>& recorded);

/// The masks the recording counters of `layers` kept, layer by layer in call order.
std::vector<at::Tensor> recorded_masks(const std::vector<models::NonsmoothLayer>& layers);

}  // namespace tiebreak::zones::detail
