#include "tiebreak/precision/fp32_accumulate.h"

#include "precision/operators.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/_to_copy.h>
#include <c10/core/DispatchKeySet.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <cstring>
#include <mutex>
#include <utility>

namespace tiebreak::precision {

namespace detail {

const std::vector<OperatorRule>& operator_rules() {
  // Everything else a network runs (activations, pooling, the loss, optimizer
  // updates) is elementwise or a reduction that LibTorch's 16-bit kernels
  // already compute at float speed.
  static const std::vector<OperatorRule> rules{
      {"convolution", {}, false, true}, {"linear", {}, false, true},         {"matmul", {}, false, true},
      {"mm", {}, false, true},          {"addmm", {}, false, true},          {"bmm", {}, false, true},
      {"baddbmm", {}, false, true},     {"batch_norm", {3, 4}, true, false},
  };
  return rules;
}

const OperatorRule* rule_for(const c10::OperatorHandle& op) {
  const auto& name = op.operator_name();
  if (!name.overload_name.empty() || name.name.rfind("aten::", 0) != 0) return nullptr;
  const char* base = name.name.c_str() + 6;
  for (const auto& rule : operator_rules())
    if (std::strcmp(rule.name, base) == 0) return &rule;
  return nullptr;
}

std::optional<at::ScalarType> widened_dtype(const OperatorRule& rule, const c10::OperatorHandle& op,
                                            const torch::jit::Stack& stack) {
  const size_t n = op.schema().arguments().size();
  std::optional<at::ScalarType> dtype;
  for (size_t i = stack.size() - n; i < stack.size(); ++i) {
    const auto& v = stack[i];
    if (!v.isTensor()) continue;
    const auto& t = v.toTensor();
    if (!t.defined()) continue;
    if (!t.is_cpu() || t.layout() != at::kStrided) return std::nullopt;
    const auto type = t.scalar_type();
    if (!dtype) {
      if (type != at::kHalf && type != at::kBFloat16) return std::nullopt;
      dtype = type;
    } else if (type != *dtype && !(rule.float_operands_allowed && type == at::kFloat)) {
      return std::nullopt;  // a mismatch the native kernel reports (or handles) itself
    }
  }
  return dtype;
}

void call_widened(const c10::OperatorHandle& op, torch::jit::Stack* stack, const OperatorRule& rule,
                  at::ScalarType compute, std::optional<at::ScalarType> result) {
  const size_t n = op.schema().arguments().size();
  const size_t first = stack->size() - n;
  std::vector<std::pair<at::Tensor, at::Tensor>> write_back;
  for (size_t i = 0; i < n; ++i) {
    auto& v = (*stack)[first + i];
    if (!v.isTensor()) continue;
    const at::Tensor t = v.toTensor();
    if (!t.defined() || !at::isFloatingType(t.scalar_type()) || t.scalar_type() == compute) continue;
    at::Tensor wide = t.to(compute);
    for (size_t k : rule.updated_in_place)
      if (k == i) write_back.emplace_back(t, wide);
    v = std::move(wide);
  }
  {
    // Autocast must not re-narrow the widened operands, and the call must not
    // come back here.
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    op.callBoxed(stack);
  }
  if (result) {
    const size_t returns = op.schema().returns().size();
    for (size_t i = stack->size() - returns; i < stack->size(); ++i) {
      auto& v = (*stack)[i];
      if (v.isTensor() && v.toTensor().defined() && at::isFloatingType(v.toTensor().scalar_type()))
        v = v.toTensor().to(*result);
    }
  }
  if (!write_back.empty()) {
    at::NoGradGuard no_grad;
    for (auto& [narrow, wide] : write_back) narrow.copy_(wide);
  }
}

void call_native(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  c10::impl::ExcludeDispatchKeyGuard native(kFp32AccumulateKey);
  op.callBoxed(stack);
}

namespace {

// Set by the guard for its thread (Fp32AccumulateGuard's bf16_products_native).
thread_local bool tls_bf16_products_native = false;

void fp32_accumulate_kernel(const c10::OperatorHandle& op, c10::DispatchKeySet keys,
                            torch::jit::Stack* stack) {
  const c10::DispatchKeySet below =
      keys & c10::DispatchKeySet(c10::DispatchKeySet::FULL_AFTER, kFp32AccumulateKey);
  const OperatorRule* rule = rule_for(op);
  TORCH_INTERNAL_ASSERT(rule, "fp32_accumulate: no rule for ", op.operator_name());
  const auto dtype = widened_dtype(*rule, op, *stack);
  if (!dtype) {
    // Below this key, so that autocast (next in line) may still narrow the
    // operands and send the narrowed call back here.
    op.redispatchBoxed(below, stack);
    return;
  }
  if (ProbeState* probe = active_probe()) {
    probe_call(*probe, op, below, stack, *rule, *dtype);
    return;
  }
  if (*dtype == at::kBFloat16 && rule->bf16_units_exact && tls_bf16_products_native) {
    op.redispatchBoxed(below, stack);
    return;
  }
  call_widened(op, stack, *rule, at::kFloat, *dtype);
}

}  // namespace

void ensure_fp32_accumulate_registered() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& dispatcher = c10::Dispatcher::singleton();
    TORCH_CHECK(!dispatcher.hasBackendFallbackForDispatchKey(kFp32AccumulateKey),
                "train.half_compute=fp32_accumulate: dispatch key ", c10::toString(kFp32AccumulateKey),
                " is already used by another library in this process (a backend with its own autocast); "
                "use train.half_compute=native");
    // Held for the life of the process, as TORCH_LIBRARY_IMPL's registrations are.
    static torch::Library fallthrough(torch::Library::IMPL, "_", kFp32AccumulateKey, __FILE__, __LINE__);
    fallthrough.fallback(torch::CppFunction::makeFallthrough());
    static torch::Library kernels(torch::Library::IMPL, "aten", kFp32AccumulateKey, __FILE__, __LINE__);
    for (const auto& rule : operator_rules())
      kernels.impl(rule.name, torch::CppFunction::makeFromBoxedFunction<&fp32_accumulate_kernel>());
  });
}

}  // namespace detail

Fp32AccumulateGuard::Fp32AccumulateGuard(bool enabled, bool bf16_products_native) {
  if (!enabled) return;
  detail::ensure_fp32_accumulate_registered();
  engaged_ = true;
  previous_bf16_products_native_ = std::exchange(detail::tls_bf16_products_native, bf16_products_native);
  previous_included_ = c10::impl::tls_is_dispatch_key_included(detail::kFp32AccumulateKey);
  previous_excluded_ = c10::impl::tls_is_dispatch_key_excluded(detail::kFp32AccumulateKey);
  c10::impl::tls_set_dispatch_key_included(detail::kFp32AccumulateKey, true);
  c10::impl::tls_set_dispatch_key_excluded(detail::kFp32AccumulateKey, false);
}

Fp32AccumulateGuard::~Fp32AccumulateGuard() {
  if (!engaged_) return;
  detail::tls_bf16_products_native = previous_bf16_products_native_;
  c10::impl::tls_set_dispatch_key_included(detail::kFp32AccumulateKey, previous_included_);
  c10::impl::tls_set_dispatch_key_excluded(detail::kFp32AccumulateKey, previous_excluded_);
}

bool bf16_products_native_enabled() { return fp32_accumulate_enabled() && detail::tls_bf16_products_native; }

bool fp32_accumulate_enabled() {
  return c10::impl::tls_is_dispatch_key_included(detail::kFp32AccumulateKey) &&
         !c10::impl::tls_is_dispatch_key_excluded(detail::kFp32AccumulateKey);
}

std::vector<std::string> fp32_accumulate_operators() {
  std::vector<std::string> names;
  for (const auto& rule : detail::operator_rules()) names.push_back(std::string("aten::") + rule.name);
  return names;
}

c10::DispatchKey fp32_accumulate_dispatch_key() { return detail::kFp32AccumulateKey; }

}  // namespace tiebreak::precision
