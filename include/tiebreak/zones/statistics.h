#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <vector>

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

/// The study's histogram of a discrepancy (plot_histogram of its threshold_maxpool and threshold_normpool
/// notebooks): numpy.histogram over the edges [0, 10^a, 10^(a+1), ..., 10^(b−1)] (bins half-open, the last
/// one closed; samples outside are left out), as percentages of the samples inside the edges; the first
/// bin [0, 10^a) is then dropped and a bar for the exact zeros, as a percentage of all samples, put in
/// front. So the bar labelled e (a < e < b) is the share of in-range samples in [10^(e−1), 10^e), and the
/// bars need not sum to 100 %. The study drew it on a log y axis up to 100 %.
///
/// Example:
/// ```
/// StudyHistogram h(-9, 0);  // the study's 32-bit range
/// h.add(0.0);
/// h.add(3e-5);              // the bar labelled -4: [1e-5, 1e-4)
/// h.to_json();              // {"exponents": [-9, 0], "zero_percent": 50, "bars": [...], ...}
/// ```
class StudyHistogram {
 public:
  /// numpy.arange(low_exponent, high_exponent): at least one exponent.
  StudyHistogram(int low_exponent, int high_exponent);

  /// Adds one sample; negative or non-finite values are an error.
  void add(double value);

  int low_exponent() const { return low_; }
  int high_exponent() const { return high_; }
  /// Every sample added.
  int64_t samples() const { return samples_; }
  int64_t zeros() const { return zeros_; }
  /// Samples inside [0, 10^(b−1)] (zeros included): the denominator of the bars.
  int64_t in_range() const { return in_range_; }
  /// Samples in the dropped first bin: 0 < D < 10^a.
  int64_t below_range() const { return counts_.front() - zeros_; }
  /// Samples above 10^(b−1), left out as numpy leaves them out.
  int64_t above_range() const { return samples_ - in_range_; }

  struct Bar {
    int exponent;  // the study's tick label: the bar holds [10^(exponent−1), 10^exponent)
    double low, high;
    int64_t count;
    double percent;  // of in_range()
  };
  /// The bars a+1 .. b−1, in order.
  std::vector<Bar> bars() const;
  /// 100 · zeros / samples (0 without samples).
  double zero_percent() const;

  /// {"exponents": [a, b], "samples", "zeros", "zero_percent", "in_range", "below_range", "above_range",
  /// "bars": [{"exponent", "low", "high", "count", "percent"}...]}.
  nlohmann::json to_json() const;

 private:
  int low_, high_;
  std::vector<double> edges_;    // 0, 10^a, ..., 10^(b−1)
  std::vector<int64_t> counts_;  // numpy's bins: [edges_[i], edges_[i+1])
  int64_t samples_ = 0, zeros_ = 0, in_range_ = 0;
};

}  // namespace tiebreak::zones
