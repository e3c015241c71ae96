#include "tiebreak/zones/classify.h"

#include <ATen/ATen.h>

namespace tiebreak::zones {

Discrepancy discrepancy(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  TORCH_CHECK(a.size() == b.size(), "zones::discrepancy: expected as many tensors on both sides, got ",
              a.size(), " and ", b.size());
  // Sum the per-tensor norms on the device and read once.
  at::Tensor linf, l1;
  for (size_t k = 0; k < a.size(); ++k) {
    if (!a[k].defined() && !b[k].defined()) continue;
    const at::Tensor& ref = a[k].defined() ? a[k] : b[k];
    auto x = a[k].defined() ? a[k].to(at::kDouble) : at::zeros(ref.sizes(), ref.options().dtype(at::kDouble));
    auto y = b[k].defined() ? b[k].to(at::kDouble) : at::zeros(ref.sizes(), ref.options().dtype(at::kDouble));
    TORCH_CHECK(x.sizes() == y.sizes(), "zones::discrepancy: tensor ", k, " has shape ", x.sizes(), " vs ",
                y.sizes());
    auto diff = (x - y).abs_();
    auto m = diff.numel() == 0 ? at::zeros({}, diff.options()) : diff.max();
    auto s = diff.sum();
    linf = linf.defined() ? linf + m : m;
    l1 = l1.defined() ? l1 + s : s;
  }
  if (!linf.defined()) return {};
  return {linf.item<double>(), l1.item<double>()};
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
