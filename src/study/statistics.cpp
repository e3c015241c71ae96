#include "tiebreak/study/statistics.h"

#include <cmath>
#include <limits>

namespace tiebreak::study {

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd s;
  s.std = std::numeric_limits<double>::quiet_NaN();
  if (values.empty()) return s;
  for (double x : values) s.mean += x;
  s.mean /= static_cast<double>(values.size());
  if (values.size() < 2) return s;
  double ss = 0;
  for (double x : values) ss += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(ss / static_cast<double>(values.size() - 1));
  if (s.std < 1e-12) s.std = 0;
  return s;
}

}  // namespace tiebreak::study
