#pragma once
// Window geometry shared by the pooling kernels (CPU and CUDA): the same output
// sizes, window bounds and argument checks as ATen's native max_pool2d, so that
// "the position native max_pool2d selects" means the same window everywhere.

#include <ATen/core/Tensor.h>
#include <c10/macros/Macros.h>
#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <string>

namespace tiebreak::ops {

struct PoolGeometry {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  bool ceil_mode = false;
  int64_t input_h = 0, input_w = 0;
  int64_t output_h = 0, output_w = 0;
};

/// First/last+1 input rows (or columns) of window `o` along one axis, clipped to
/// the input exactly as ATen's max_pool2d does (padding never wins).
struct WindowRange {
  int64_t start;
  int64_t end;
};

C10_HOST_DEVICE inline WindowRange window_range(int64_t o, int64_t stride, int64_t pad, int64_t kernel,
                                                int64_t dilation, int64_t input) {
  int64_t start = o * stride - pad;
  int64_t end = start + (kernel - 1) * dilation + 1;
  end = end < input ? end : input;
  while (start < 0) start += dilation;
  return {start, end};
}

/// ATen's pooling_output_shape: floor or ceil, with the last window required to
/// start inside the input or its left padding.
int64_t pooling_output_size(int64_t input, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation,
                            bool ceil_mode);

/// Validates `input` (3-D CHW or 4-D NCHW/NHWC, floating, non-empty spatial
/// dims) and the pooling arguments with the same rules and messages as ATen's
/// max_pool2d (`op` names the operator in the messages), and returns the
/// geometry. `kernel_size` has 1 or 2 entries; `stride` 0 (= kernel), 1 or 2;
/// `padding` and `dilation` 1 or 2.
PoolGeometry make_pool_geometry(const char* op, const at::Tensor& input, c10::IntArrayRef kernel_size,
                                c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation,
                                bool ceil_mode);

}  // namespace tiebreak::ops
