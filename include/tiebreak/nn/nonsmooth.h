#pragma once

#include "tiebreak/core/enum_names.h"
#include "tiebreak/nn/options/pooling.h"

#include <torch/nn/modules/container/any.h>

#include <nlohmann/json.hpp>

#include <string>

namespace tiebreak::nn {

/// Which pooling operator a network uses at each of its pooling sites.
enum class PoolKind { MaxPool, NormPool };

/// "maxpool", "normpool": the names of `nonsmooth.pool`.
constexpr std::array<core::EnumName<PoolKind>, 2> enum_names(PoolKind) {
  return {{{PoolKind::MaxPool, "maxpool"}, {PoolKind::NormPool, "normpool"}}};
}
inline std::string to_string(PoolKind kind) { return core::enum_name(kind); }

/// The Jacobian choices a network is built with: every MaxPool/NormPool and
/// every ReLU of a model built from a `Nonsmooth` carries them. This is the
/// one thing the study varies.
///
/// Example:
/// ```
/// auto policy = Nonsmooth().beta(1000).formulation(ops::PoolFormulation::Mixture).relu_alpha(0);
/// auto pool = policy.make_pool(2, 2, 0);  // a MaxPool2d with β = 1000
/// ```
struct Nonsmooth {
  TORCH_ARG(PoolKind, pool) = PoolKind::MaxPool;
  /// MaxPool β (see MaxPool2dOptions::beta).
  TORCH_ARG(double, beta) = 0.0;
  TORCH_ARG(ops::PoolFormulation, formulation) = ops::PoolFormulation::Pure;
  /// NormPool gradient factor on all-zero windows.
  TORCH_ARG(double, grad_at_zero) = 0.0;
  /// ReLU'(0).
  TORCH_ARG(double, relu_alpha) = 0.0;

  // TORCH_ARG leaves the access at private.
 public:
  /// A pooling module (MaxPool2d or NormPool2d) with this policy.
  torch::nn::AnyModule make_pool(int64_t kernel_size, int64_t stride, int64_t padding = 0) const;
  /// A ReLU module with this policy's α.
  torch::nn::AnyModule make_relu() const;

  /// e.g. "maxpool(beta=1000, mixture), relu'(0)=0".
  std::string describe() const;
};

}  // namespace tiebreak::nn
