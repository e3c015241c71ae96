#include "tiebreak/precision/equivalence.h"

#include "precision/operators.h"
#include "tiebreak/precision/fp32_accumulate.h"

#include <ATen/ATen.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/autograd.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace tiebreak::precision {

namespace {

struct Format {
  int precision;  // significand bits, the implicit one included
  int min_exponent;
  double max_finite;
};

Format format_of(at::ScalarType dtype, const char* what) {
  switch (dtype) {
    case at::kHalf:
      return {11, -14, 65504.0};
    case at::kBFloat16:
      return {8, -126, 3.3895313892515355e38};
    default:
      TORCH_CHECK(false, what, ": expected a Half or BFloat16 tensor, got ", dtype);
  }
}

// The position of each value in the format's order: the magnitude bits, negated
// for negative values, so that +0 and −0 are both 0 and neighbours differ by 1.
at::Tensor ordinal(const at::Tensor& t) {
  const auto bits = t.view(at::kShort).to(at::kInt).bitwise_and(0xFFFF);
  const auto magnitude = bits.bitwise_and(0x7FFF);
  return at::where(bits.ge(0x8000), magnitude.neg(), magnitude);
}

}  // namespace

at::Tensor ulp_distance(const at::Tensor& a, const at::Tensor& b) {
  format_of(a.scalar_type(), "ulp_distance");
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), "ulp_distance: expected tensors of one dtype, got ",
              a.scalar_type(), " and ", b.scalar_type());
  TORCH_CHECK(a.sizes() == b.sizes(), "ulp_distance: expected tensors of one shape, got ", a.sizes(), " and ",
              b.sizes());
  auto distance = (ordinal(a) - ordinal(b)).abs().to(at::kLong);
  const auto nan_a = a.isnan();
  const auto nan_b = b.isnan();
  distance.masked_fill_(nan_a.logical_and(nan_b), 0);
  distance.masked_fill_(nan_a.logical_xor(nan_b), kNanMismatch);
  return distance;
}

at::Tensor ulp_error(const at::Tensor& x, const at::Tensor& reference) {
  const Format f = format_of(x.scalar_type(), "ulp_error");
  TORCH_CHECK(at::isFloatingType(reference.scalar_type()), "ulp_error: expected a floating reference, got ",
              reference.scalar_type());
  TORCH_CHECK(x.sizes() == reference.sizes(), "ulp_error: expected tensors of one shape, got ", x.sizes(),
              " and ", reference.sizes());
  const auto r = reference.to(at::kDouble);
  const auto xd = x.to(at::kDouble);
  // log2(0) = −inf is clamped to the subnormal exponent.
  const auto exponent = at::floor(at::log2(r.abs())).clamp_min(f.min_exponent);
  auto error = (xd - r).abs() / at::exp2(exponent - (f.precision - 1));
  error.masked_fill_(xd.eq(r), 0.0);
  error.masked_fill_(xd.isnan().logical_and(r.isnan()), 0.0);
  const auto finite_x = xd.isfinite();
  const auto finite_r = r.isfinite();
  error.masked_fill_(finite_x.logical_xor(finite_r), std::numeric_limits<double>::infinity());
  // Opposite infinities, or a NaN against a non-NaN.
  error.masked_fill_(xd.ne(r).logical_and(finite_x.logical_not()).logical_and(finite_r.logical_not()),
                     std::numeric_limits<double>::infinity());
  return error;
}

void merge_comparison(std::vector<ProductComparison>& rows, const ProductComparison& row) {
  for (auto& r : rows) {
    if (r.layer == row.layer && r.op == row.op && r.product == row.product) {
      r.calls += row.calls;
      r.elements += row.elements;
      r.differing += row.differing;
      r.max_ulp_distance = std::max(r.max_ulp_distance, row.max_ulp_distance);
      r.native_max_error = std::max(r.native_max_error, row.native_max_error);
      r.fp32_accumulate_max_error = std::max(r.fp32_accumulate_max_error, row.fp32_accumulate_max_error);
      return;
    }
  }
  rows.push_back(row);
}

namespace detail {

class ProbeState : public std::enable_shared_from_this<ProbeState> {
 public:
  std::unordered_map<const c10::TensorImpl*, std::string> names;

  std::string layer_of(const std::string& op, const torch::jit::Stack& args) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& v : args) {
      if (!v.isTensor() || !v.toTensor().defined()) continue;
      auto it = names.find(v.toTensor().unsafeGetTensorImpl());
      if (it != names.end()) return it->second;
    }
    return op + "#" + std::to_string(++unnamed_calls_[op]);
  }

  void record(const ProductComparison& row) {
    std::lock_guard<std::mutex> lock(mutex_);
    merge_comparison(rows_, row);
  }

  std::vector<ProductComparison> rows() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return rows_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, int64_t> unnamed_calls_;
  std::vector<ProductComparison> rows_;
};

namespace {

thread_local ProbeState* t_probe = nullptr;

// One computation of the operator on detached copies of the operands: its
// result and the copies that require grad (with their argument positions).
struct Computation {
  at::Tensor out;
  std::vector<at::Tensor> leaves;
  std::vector<size_t> positions;
};

enum class Path { Native, Fp32Accumulate, Fp64 };

Computation compute(const c10::OperatorHandle& op, const torch::jit::Stack& args, const OperatorRule& rule,
                    at::ScalarType dtype, Path path) {
  Computation c;
  torch::jit::Stack stack;
  const bool grad = at::GradMode::is_enabled();
  for (size_t i = 0; i < args.size(); ++i) {
    c10::IValue v = args[i];
    if (v.isTensor() && v.toTensor().defined()) {
      const at::Tensor& t = v.toTensor();
      at::Tensor copy = t.detach();
      // The running statistics: each computation updates its own.
      if (std::find(rule.updated_in_place.begin(), rule.updated_in_place.end(), i) !=
          rule.updated_in_place.end())
        copy = copy.clone();
      if (grad && t.requires_grad()) {
        copy.requires_grad_(true);
        c.leaves.push_back(copy);
        c.positions.push_back(i);
      }
      v = copy;
    }
    stack.push_back(std::move(v));
  }
  switch (path) {
    case Path::Native:
      call_native(op, &stack);
      break;
    case Path::Fp32Accumulate:
      call_widened(op, &stack, rule, at::kFloat, dtype);
      break;
    case Path::Fp64:
      call_widened(op, &stack, rule, at::kDouble, std::nullopt);
      break;
  }
  c.out = stack.back().toTensor();
  return c;
}

ProductComparison compare(const std::string& op, const std::string& layer, const std::string& product,
                          const at::Tensor& native, const at::Tensor& fast, const at::Tensor& reference) {
  ProductComparison row;
  row.op = op;
  row.layer = layer;
  row.product = product;
  row.dtype = c10::toString(native.scalar_type());
  row.calls = 1;
  row.elements = native.numel();
  if (row.elements == 0) return row;
  const auto distance = ulp_distance(native, fast);
  row.differing = distance.gt(0).sum().item<int64_t>();
  row.max_ulp_distance = distance.max().item<int64_t>();
  const Format f = format_of(native.scalar_type(), "compare");
  const auto r = reference.to(at::kDouble);
  const auto representable = r.isfinite().logical_and(r.abs().le(f.max_finite));
  if (representable.any().item<bool>()) {
    row.native_max_error = ulp_error(native, r).masked_select(representable).max().item<double>();
    row.fp32_accumulate_max_error = ulp_error(fast, r).masked_select(representable).max().item<double>();
  }
  return row;
}

}  // namespace

ProbeState* active_probe() { return t_probe; }

void probe_call(ProbeState& probe, const c10::OperatorHandle& op, c10::DispatchKeySet below,
                torch::jit::Stack* stack, const OperatorRule& rule, at::ScalarType dtype) {
  const auto& schema = op.schema();
  const size_t n = schema.arguments().size();
  const torch::jit::Stack args(stack->end() - static_cast<std::ptrdiff_t>(n), stack->end());
  {
    // What the network continues with; calls the operator makes internally
    // (linear's addmm) are part of it, not measured again.
    c10::impl::ExcludeDispatchKeyGuard native(kFp32AccumulateKey);
    op.redispatchBoxed(below, stack);
  }
  const at::Tensor out = stack->back().toTensor();

  const std::string name = rule.name;
  const std::string layer = probe.layer_of(name, args);
  Computation native = compute(op, args, rule, dtype, Path::Native);
  Computation fast = compute(op, args, rule, dtype, Path::Fp32Accumulate);
  Computation reference = compute(op, args, rule, dtype, Path::Fp64);
  {
    at::NoGradGuard no_grad;
    probe.record(compare(name, layer, "output", out, fast.out, reference.out));
  }
  if (!out.requires_grad() || native.leaves.empty()) return;

  std::vector<std::string> products;
  for (size_t position : native.positions) products.push_back("grad_" + schema.arguments()[position].name());
  // The hook keeps what it needs alive; the probe object may be gone by then.
  std::shared_ptr<ProbeState> target = probe.shared_from_this();
  auto keep = std::make_shared<std::tuple<Computation, Computation, Computation>>(
      std::move(native), std::move(fast), std::move(reference));
  out.register_hook([target, keep, products, name, layer](const at::Tensor& grad) {
    auto& [n, f, r] = *keep;
    const auto gn = torch::autograd::grad({n.out}, n.leaves, {grad}, false, false, true);
    const auto gf = torch::autograd::grad({f.out}, f.leaves, {grad}, false, false, true);
    const auto gr = torch::autograd::grad({r.out}, r.leaves, {grad.to(at::kDouble)}, false, false, true);
    at::NoGradGuard no_grad;
    for (size_t k = 0; k < products.size(); ++k) {
      if (!gn[k].defined() || !gf[k].defined() || !gr[k].defined()) continue;
      const auto type = gn[k].scalar_type();
      if (type != at::kHalf && type != at::kBFloat16) continue;  // a float parameter beside a 16-bit input
      target->record(compare(name, layer, products[k], gn[k], gf[k], gr[k]));
    }
  });
}

}  // namespace detail

Fp32AccumulateProbe::Fp32AccumulateProbe() : state_(std::make_shared<detail::ProbeState>()) {
  detail::ensure_fp32_accumulate_registered();
}

Fp32AccumulateProbe::Fp32AccumulateProbe(const torch::nn::Module& model) : Fp32AccumulateProbe() {
  for (const auto& item : model.named_parameters()) {
    const auto& key = item.key();
    const auto dot = key.rfind('.');
    state_->names[item.value().unsafeGetTensorImpl()] = dot == std::string::npos ? key : key.substr(0, dot);
  }
}

Fp32AccumulateProbe::Scope Fp32AccumulateProbe::engage() { return Scope(state_.get()); }

Fp32AccumulateProbe::Scope::Scope(detail::ProbeState* state) {
  previous_included_ = c10::impl::tls_is_dispatch_key_included(detail::kFp32AccumulateKey);
  previous_excluded_ = c10::impl::tls_is_dispatch_key_excluded(detail::kFp32AccumulateKey);
  c10::impl::tls_set_dispatch_key_included(detail::kFp32AccumulateKey, true);
  c10::impl::tls_set_dispatch_key_excluded(detail::kFp32AccumulateKey, false);
  previous_probe_ = detail::t_probe;
  detail::t_probe = state;
}

Fp32AccumulateProbe::Scope::~Scope() {
  detail::t_probe = previous_probe_;
  c10::impl::tls_set_dispatch_key_included(detail::kFp32AccumulateKey, previous_included_);
  c10::impl::tls_set_dispatch_key_excluded(detail::kFp32AccumulateKey, previous_excluded_);
}

std::vector<ProductComparison> Fp32AccumulateProbe::comparisons() const { return state_->rows(); }

}  // namespace tiebreak::precision
