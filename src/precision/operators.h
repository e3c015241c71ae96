#pragma once

// The operators Fp32AccumulateGuard intercepts and how one call is widened
// (private to src/precision: the guard's kernel and the equivalence probe share it).

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/core/ScalarType.h>

#include <optional>
#include <vector>

namespace tiebreak::precision::detail {

struct OperatorRule {
  /// aten operator name (default overload).
  const char* name;
  /// Argument positions the operator updates in place although its schema does
  /// not say so (batch_norm's running_mean and running_var).
  std::vector<size_t> updated_in_place;
  /// Whether arguments after the first may be float beside a 16-bit first
  /// argument (batch_norm's mixed-type kernel: 16-bit input, float parameters).
  bool float_operands_allowed;
  /// Whether LibTorch's BFloat16 CPU kernel computes this product as the guard
  /// does (exact BF16 products, float accumulation, one rounding) when oneDNN
  /// runs it on the CPU's BF16 units: convolution and the matrix products, not
  /// batch norm (whose BFloat16 kernel applies a BFloat16 scale and shift).
  bool bf16_units_exact;
};

const std::vector<OperatorRule>& operator_rules();

/// The rule for `op`, or null if the guard does not intercept it.
const OperatorRule* rule_for(const c10::OperatorHandle& op);

/// The 16-bit dtype a call is widened for: the first tensor argument's, if it
/// is Half or BFloat16, strided and on the CPU, and every other defined tensor
/// argument is on the CPU, strided, and of that dtype (or float where the rule
/// allows). nullopt: the call goes to the native kernel unchanged.
std::optional<at::ScalarType> widened_dtype(const OperatorRule& rule, const c10::OperatorHandle& op,
                                            const torch::jit::Stack& stack);

/// Calls `op` on the arguments at the top of `stack` with every floating tensor
/// argument cast to `compute` (autograd records the casts), autocast and this
/// mechanism excluded; replaces them by its results, each floating tensor
/// result cast to `result` when given. Tensors the operator updates in place
/// (rule.updated_in_place) receive the updated values, rounded to their dtype.
void call_widened(const c10::OperatorHandle& op, torch::jit::Stack* stack, const OperatorRule& rule,
                  at::ScalarType compute, std::optional<at::ScalarType> result);

/// Calls the native kernel of `op` (this mechanism excluded) on the arguments
/// at the top of `stack`.
void call_native(const c10::OperatorHandle& op, torch::jit::Stack* stack);

/// The dispatch key of the mechanism.
constexpr c10::DispatchKey kFp32AccumulateKey = c10::DispatchKey::AutocastIPU;

/// The probe that observes intercepted calls on this thread instead of widening
/// them (see equivalence.cpp), or null.
class ProbeState;
ProbeState* active_probe();
/// Runs `op` natively (the call the network continues with) and records how
/// the widened results compare; defined in equivalence.cpp.
void probe_call(ProbeState& probe, const c10::OperatorHandle& op, c10::DispatchKeySet below,
                torch::jit::Stack* stack, const OperatorRule& rule, at::ScalarType dtype);

}  // namespace tiebreak::precision::detail
