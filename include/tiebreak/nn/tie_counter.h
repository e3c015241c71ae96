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

/// Per-layer tie counter that the nonsmooth layers feed when statistics are on.
/// Counts accumulate in 0-dim tensors on the data's device, so a CUDA training
/// step never waits for the host; `stats()` synchronises once when read.
///
/// Example:
/// ```
/// MaxPool2d pool(MaxPool2dOptions(2));
/// pool->counter()->set_enabled(true);
/// pool(x);
/// auto s = pool->counter()->stats();  // s.ties / s.points
/// ```
class TieCounter {
 public:
  void set_enabled(bool enabled) { enabled_ = enabled; }
  bool enabled() const { return enabled_; }

  /// While enabled, also keep each call's tie mask (bool, shaped like the
  /// pooling output or the ReLU input; true where a window is tied or an input
  /// is exactly zero), so that tiebreak::zones can compare where the ties of
  /// one forward pass lie with those of the same pass in another precision.
  void set_recording(bool recording) { recording_ = recording; }
  bool recording() const { return recording_; }
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

  TieStats stats() const;
  void reset();

 private:
  void accumulate(int64_t points, const at::Tensor& ties, const at::Tensor& max_ties);

  void record(const at::Tensor& mask);

  bool enabled_ = false;
  bool recording_ = false;
  std::vector<at::Tensor> recorded_;
  mutable std::mutex mutex_;
  int64_t calls_ = 0;
  int64_t points_ = 0;
  at::Tensor ties_;      // 0-dim int64 on the data's device
  at::Tensor max_ties_;  // 0-dim int64 on the data's device
};

}  // namespace tiebreak::nn
