#include "tiebreak/zones/statistics.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

namespace tiebreak::zones {
namespace {

// 10^k correctly rounded (strtod is exact; subnormal and underflowing powers do not throw).
double power_of_ten(int k) { return std::strtod(("1e" + std::to_string(k)).c_str(), nullptr); }

}  // namespace

Interval wilson_interval(int64_t successes, int64_t trials, double z) {
  TORCH_CHECK(trials >= 0 && successes >= 0 && successes <= trials,
              "wilson_interval: expected 0 <= successes <= trials, got ", successes, " of ", trials);
  TORCH_CHECK(z > 0, "wilson_interval: expected z > 0, got ", z);
  if (trials == 0) return {0.0, 1.0};
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / n;
  const double z2 = z * z;
  const double denominator = 1.0 + z2 / n;
  const double centre = (p + z2 / (2.0 * n)) / denominator;
  const double half = z / denominator * std::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n));
  // At 0 or `trials` successes one end is exactly 0 or 1; rounding must not move it.
  Interval ci{std::max(0.0, centre - half), std::min(1.0, centre + half)};
  if (successes == 0) ci.low = 0.0;
  if (successes == trials) ci.high = 1.0;
  return ci;
}

int Log10Histogram::bin_exponent(double value) {
  TORCH_CHECK(value > 0 && std::isfinite(value), "Log10Histogram: expected a positive finite value, got ",
              value);
  int e = static_cast<int>(std::floor(std::log10(value))) + 1;
  // log10 is not exact near powers of ten; settle the bin by comparing with the bounds.
  while (e > -400 && value < power_of_ten(e - 1)) --e;
  while (e < 400 && value >= power_of_ten(e)) ++e;
  return e;
}

void Log10Histogram::add(double value) {
  TORCH_CHECK(value >= 0 && std::isfinite(value), "Log10Histogram: expected a finite value >= 0, got ",
              value);
  if (value == 0) {
    ++zeros_;
    return;
  }
  ++bins_[bin_exponent(value)];
}

int64_t Log10Histogram::total() const {
  int64_t n = zeros_;
  for (const auto& [e, count] : bins_) n += count;
  return n;
}

nlohmann::json Log10Histogram::to_json() const {
  nlohmann::json bins = nlohmann::json::array();
  for (const auto& [e, count] : bins_)
    bins.push_back(
        {{"exponent", e}, {"low", power_of_ten(e - 1)}, {"high", power_of_ten(e)}, {"count", count}});
  return {{"zeros", zeros_}, {"bins", bins}};
}

StudyHistogram::StudyHistogram(int low_exponent, int high_exponent)
    : low_(low_exponent), high_(high_exponent) {
  TORCH_CHECK(high_ > low_,
              "StudyHistogram: expected low_exponent < high_exponent (numpy.arange(a, b) must hold ",
              "an exponent), got ", low_, " and ", high_);
  edges_.push_back(0.0);
  for (int e = low_; e < high_; ++e) edges_.push_back(power_of_ten(e));
  counts_.assign(edges_.size() - 1, 0);
}

void StudyHistogram::add(double value) {
  TORCH_CHECK(value >= 0 && std::isfinite(value), "StudyHistogram: expected a finite value >= 0, got ",
              value);
  ++samples_;
  if (value == 0) ++zeros_;
  if (value > edges_.back()) return;
  ++in_range_;
  // numpy: bin i holds [edges[i], edges[i+1]); the last bin also holds its right edge.
  auto it = std::upper_bound(edges_.begin(), edges_.end(), value);
  size_t bin = static_cast<size_t>(it - edges_.begin()) - 1;
  if (bin == counts_.size()) --bin;
  ++counts_[bin];
}

std::vector<StudyHistogram::Bar> StudyHistogram::bars() const {
  std::vector<Bar> out;
  for (size_t i = 1; i < counts_.size(); ++i) {
    const int exponent = low_ + static_cast<int>(i);
    out.push_back({exponent, edges_[i], edges_[i + 1], counts_[i],
                   in_range_ == 0 ? 0.0 : 100.0 * static_cast<double>(counts_[i]) / in_range_});
  }
  return out;
}

double StudyHistogram::zero_percent() const {
  return samples_ == 0 ? 0.0 : 100.0 * static_cast<double>(zeros_) / samples_;
}

nlohmann::json StudyHistogram::to_json() const {
  nlohmann::json bars_json = nlohmann::json::array();
  for (const auto& b : bars())
    bars_json.push_back({{"exponent", b.exponent},
                         {"low", b.low},
                         {"high", b.high},
                         {"count", b.count},
                         {"percent", b.percent}});
  return {{"exponents", {low_, high_}},     {"samples", samples_},   {"zeros", zeros_},
          {"zero_percent", zero_percent()}, {"in_range", in_range_}, {"below_range", below_range()},
          {"above_range", above_range()},   {"bars", bars_json}};
}

}  // namespace tiebreak::zones
