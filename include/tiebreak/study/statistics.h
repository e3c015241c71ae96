#pragma once

#include <vector>

namespace tiebreak::study {

/// The mean and sample standard deviation (n − 1) of a set of runs' values.
struct MeanStd {
  /// 0 without values.
  double mean = 0;
  /// NaN with fewer than two values (one run has no spread, which is not a spread of 0); a deviation below
  /// 1e-12 is 0: equal values (every diverged run at the same chance accuracy) have no spread, and rounding
  /// in the mean must not invent one for a t-test to divide by.
  double std = 0;
};

/// What `tiebreak compare` and `tiebreak report` show per group of runs.
///
/// Example:
/// ```
/// auto s = mean_std({0.98, 0.99});  // s.mean = 0.985, s.std = 0.00707
/// ```
MeanStd mean_std(const std::vector<double>& values);

}  // namespace tiebreak::study
