#include "tiebreak/zones/classify.h"

#include <ATen/ATen.h>

namespace tiebreak::zones {

namespace {

/// Pair k of two gradient lists, an undefined side as zeros of the other's shape and dtype; false when
/// both are undefined (the pair adds nothing).
bool pair_at(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, size_t k, at::Tensor& x,
             at::Tensor& y) {
  if (!a[k].defined() && !b[k].defined()) return false;
  x = a[k].defined() ? a[k] : at::zeros_like(b[k]);
  y = b[k].defined() ? b[k] : at::zeros_like(a[k]);
  TORCH_CHECK(x.sizes() == y.sizes(), "zones::discrepancy: tensor ", k, " has shape ", x.sizes(), " vs ",
              y.sizes());
  return true;
}

/// Whether x − y is zero everywhere, known without converting anything: the common case of layers
/// the Jacobian choice does not reach (e.g. the classifier after the last pool). at::equal is false
/// where a NaN is; an inf equal on both sides still differs by NaN (inf − inf), so equal tensors must
/// also be finite.
bool exactly_equal(const at::Tensor& x, const at::Tensor& y) {
  return x.scalar_type() == y.scalar_type() && x.device() == y.device() && at::equal(x, y) &&
         at::isfinite(x).all().item<bool>();
}

/// |x − y| elementwise with each difference rounded once to float64.
at::Tensor float64_difference(const at::Tensor& x, const at::Tensor& y) {
  // A copy even when x is already float64: the subtraction is in place.
  return x.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true).sub_(y).abs_();
}

at::Tensor max_or_zero(const at::Tensor& t) { return t.numel() == 0 ? at::zeros({}, t.options()) : t.max(); }

/// ‖x − y‖_∞ with the differences rounded to float64 (a 0-dim float64 tensor), reading float64 values
/// only where they can be the maximum. In a narrower floating dtype, |x − y| is the exact difference
/// rounded, and rounding is monotonic: the element of largest exact difference has the largest rounded
/// one, so it is among the elements that reach the rounded maximum M. Only those are recomputed in
/// float64. A NaN difference makes M NaN, which equals nothing, and the result M (NaN) as in float64; an
/// overflow to inf in the narrow dtype keeps every inf element a candidate.
at::Tensor linf_of_difference(const at::Tensor& x, const at::Tensor& y) {
  const auto dtype = x.scalar_type();
  if (dtype != y.scalar_type() || dtype == at::kDouble || !at::isFloatingType(dtype))
    return max_or_zero(float64_difference(x, y));
  if (x.numel() == 0) return at::zeros({}, x.options().dtype(at::kDouble));
  const auto rounded = at::sub(x, y).abs_();
  const auto m = rounded.max();
  const auto candidates = rounded.eq(m);
  const auto xs = x.masked_select(candidates), ys = y.masked_select(candidates);
  if (xs.numel() == 0) return m.to(at::kDouble);
  return float64_difference(xs, ys).max();
}

at::Tensor accumulate(const at::Tensor& total, const at::Tensor& term) {
  return total.defined() ? total + term : term;
}

}  // namespace

Discrepancy discrepancy(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  TORCH_CHECK(a.size() == b.size(), "zones::discrepancy: expected as many tensors on both sides, got ",
              a.size(), " and ", b.size());
  // Sum the per-tensor norms on the device and read once.
  at::Tensor linf, l1;
  for (size_t k = 0; k < a.size(); ++k) {
    at::Tensor x, y;
    // An equal pair adds +0 to both sums, which leaves them as they are.
    if (!pair_at(a, b, k, x, y) || exactly_equal(x, y)) continue;
    const auto diff = float64_difference(x, y);
    linf = accumulate(linf, max_or_zero(diff));
    l1 = accumulate(l1, diff.sum());
  }
  if (!linf.defined()) return {};
  return {linf.item<double>(), l1.item<double>()};
}

double discrepancy(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, DiscrepancyNorm norm) {
  if (norm == DiscrepancyNorm::L1) return discrepancy(a, b).l1;
  TORCH_CHECK(a.size() == b.size(), "zones::discrepancy: expected as many tensors on both sides, got ",
              a.size(), " and ", b.size());
  at::Tensor linf;
  for (size_t k = 0; k < a.size(); ++k) {
    at::Tensor x, y;
    if (!pair_at(a, b, k, x, y) || exactly_equal(x, y)) continue;
    linf = accumulate(linf, linf_of_difference(x, y));
  }
  return linf.defined() ? linf.item<double>() : 0.0;
}

TieComparison& TieComparison::operator+=(const TieComparison& other) {
  low += other.low;
  high += other.high;
  surviving += other.surviving;
  created_by_rounding += other.created_by_rounding;
  broken_by_rounding += other.broken_by_rounding;
  return *this;
}

TieComparison compare_tie_masks(const std::vector<at::Tensor>& low, const std::vector<at::Tensor>& high) {
  TORCH_CHECK(low.size() == high.size(), "zones::compare_tie_masks: expected as many recorded calls in both ",
              "precisions, got ", low.size(), " and ", high.size());
  TieComparison c;
  for (size_t k = 0; k < low.size(); ++k) {
    TORCH_CHECK(low[k].sizes() == high[k].sizes(), "zones::compare_tie_masks: call ", k, " has mask shape ",
                low[k].sizes(), " vs ", high[k].sizes());
    auto l = low[k].to(at::kBool);
    auto h = high[k].to(l.device(), at::kBool);
    auto counts = at::stack({l.sum(at::kLong), h.sum(at::kLong), l.logical_and(h).sum(at::kLong)}).cpu();
    const auto* v = counts.data_ptr<int64_t>();
    c.low += v[0];
    c.high += v[1];
    c.surviving += v[2];
    c.created_by_rounding += v[0] - v[2];
    c.broken_by_rounding += v[1] - v[2];
  }
  return c;
}

std::string to_string(Zone zone) {
  switch (zone) {
    case Zone::None:
      return "none";
    case Zone::Bifurcation:
      return "bifurcation";
    case Zone::Compensation:
      return "compensation";
    case Zone::Unresolved:
      return "unresolved";
  }
  TORCH_INTERNAL_ASSERT(false, "unknown Zone");
}

Zone classify(double discrepancy, const TieComparison* ties) {
  TORCH_CHECK(discrepancy >= 0, "zones::classify: expected a discrepancy >= 0, got ", discrepancy);
  if (discrepancy == 0) return Zone::None;
  if (ties == nullptr) return Zone::Unresolved;
  return ties->surviving > 0 ? Zone::Bifurcation : Zone::Compensation;
}

}  // namespace tiebreak::zones
