#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>

namespace tiebreak::zones {

/// A two-sided confidence interval for a proportion.
struct Interval {
  double low = 0;
  double high = 0;
};

/// The Wilson score interval for `successes` out of `trials` (z = 1.96 gives
/// 95%). Unlike the normal approximation it stays inside [0, 1] and is not
/// degenerate at 0 or `trials` successes, which is where zone volumes sit
/// (fp16: ~100%, fp64: 0%). Zero trials give [0, 1].
///
/// Example:
/// ```
/// auto ci = wilson_interval(/*successes=*/0, /*trials=*/391);  // [0, 0.0097]
/// ```
Interval wilson_interval(int64_t successes, int64_t trials, double z = 1.959963984540054);

/// Histogram of log10 of non-negative values: bin e holds [10^(e−1), 10^e);
/// exact zeros are counted apart (they are the mini-batches outside every
/// zone, not a very small discrepancy).
///
/// Example:
/// ```
/// Log10Histogram h;
/// h.add(0.0);     // zeros() == 1
/// h.add(3e-5);    // bins()[-4] == 1: 3e-5 ∈ [1e-5, 1e-4)
/// ```
class Log10Histogram {
 public:
  /// Adds one value; negative or non-finite values are an error.
  void add(double value);
  int64_t zeros() const { return zeros_; }
  /// Exponent e → count of values in [10^(e−1), 10^e).
  const std::map<int, int64_t>& bins() const { return bins_; }
  int64_t total() const;

  /// The e with 10^(e−1) ≤ value < 10^e, exact at powers of ten (value > 0, finite).
  static int bin_exponent(double value);

  /// {"zeros": n, "bins": [{"low": 1e-5, "high": 1e-4, "exponent": -4, "count": n}, ...]}.
  nlohmann::json to_json() const;

 private:
  int64_t zeros_ = 0;
  std::map<int, int64_t> bins_;
};

}  // namespace tiebreak::zones
