#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace tiebreak::nn {

/// What a layer saw since its counter was last reset. For a pooling layer a
/// "point" is a pooling window and a tie is a window with t >= 2 equal maxima;
/// for a ReLU a point is an input element and a tie is an exact zero (+0 or −0).
struct TieStats {
  int64_t calls = 0;
  int64_t points = 0;
  int64_t ties = 0;
  /// Largest number of positions sharing a window's maximum (pooling only).
  int64_t max_ties = 0;

  double tie_fraction() const { return points == 0 ? 0.0 : static_cast<double>(ties) / points; }
};

/// What a tie counter does in the passes that follow (TieCounter::set_counting, the one switch).
///
/// - `Off`: nothing (the default): the layer calls the plain operator.
/// - `Count`: calls, points and ties are counted (a reduction per call; pooling layers call the operator
///   that also returns each window's tie count).
/// - `Record`: counted, and each call's tie mask is kept (bool, shaped like the pooling output or the ReLU
///   input; true where a window is tied or an input is exactly zero), so that tiebreak::zones can compare
///   where the ties of one forward pass lie with those of the same pass in another precision.
enum class TieCounting { Off, Count, Record };

/// Per-layer tie counter that the nonsmooth layers feed when counting is on.
/// Counts accumulate in 0-dim tensors on the data's device, so a CUDA training
/// step never waits for the host; `stats()` synchronises once when read.
///
/// Example:
/// ```
/// MaxPool2d pool(MaxPool2dOptions(2));
/// pool->counter()->set_counting(TieCounting::Count);
/// pool(x);
/// auto s = pool->counter()->stats();  // s.ties / s.points
/// ```
class TieCounter {
 public:
  /// The one switch: from the next call on, count (and record) as `mode` says. What was counted and
  /// recorded so far stays until reset().
  void set_counting(TieCounting mode) { counting_ = mode; }
  TieCounting counting() const { return counting_; }
  /// Counting (`Count` or `Record`).
  bool enabled() const { return counting_ != TieCounting::Off; }
  /// Keeping tie masks (`Record`).
  bool recording() const { return counting_ == TieCounting::Record; }
  /// The masks recorded since the last reset, one per call in call order.
  std::vector<at::Tensor> recorded() const;
  /// The masks recorded since the last reset or take, which the counter then
  /// drops (its counts stay): lets a caller record a single pass of a layer
  /// whose counts accumulate over an epoch (zones::ZoneProbe).
  std::vector<at::Tensor> take_recorded();

  /// One pooling call: `ties` holds t_w, the number of positions attaining
  /// each window's maximum (output-shaped, integral).
  void add_pool_call(const at::Tensor& ties);
  /// One ReLU call: counts the exact zeros of `input`.
  void add_relu_call(const at::Tensor& input);

  /// The at::RecordFunction scope (a user scope) that add_pool_call and add_relu_call run in: profiles
  /// show the tie counting apart from the layer, and observers of a forward's operators can tell the
  /// counting (statistics that the forward's results do not read) from the forward.
  static constexpr const char* kRecordScope = "tiebreak::count_ties";

  TieStats stats() const;
  void reset();

 private:
  void accumulate(int64_t points, const at::Tensor& ties, const at::Tensor& max_ties);

  void record(const at::Tensor& mask);

  TieCounting counting_ = TieCounting::Off;
  std::vector<at::Tensor> recorded_;
  mutable std::mutex mutex_;
  int64_t calls_ = 0;
  int64_t points_ = 0;
  at::Tensor ties_;      // 0-dim int64 on the data's device
  at::Tensor max_ties_;  // 0-dim int64 on the data's device
};

}  // namespace tiebreak::nn
