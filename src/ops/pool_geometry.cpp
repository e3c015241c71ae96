#include "ops/pool_geometry.h"

#include <c10/util/Exception.h>

namespace tiebreak::ops {

namespace {

int64_t div_round_down(int64_t x, int64_t y) {
  int64_t q = x / y;
  int64_t r = x % y;
  if (r != 0 && ((r < 0) != (y < 0))) --q;
  return q;
}

std::pair<int64_t, int64_t> pair_arg(const char* op, const char* name, c10::IntArrayRef values,
                                     c10::IntArrayRef fallback) {
  if (values.empty()) values = fallback;
  TORCH_CHECK(values.size() == 1 || values.size() == 2, op, ": ", name,
              " must either be a single int, or a tuple of two ints, got ", values.size(), " values");
  return {values[0], values.size() == 1 ? values[0] : values[1]};
}

}  // namespace

int64_t pooling_output_size(int64_t input, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation,
                            bool ceil_mode) {
  int64_t out =
      div_round_down(input + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) +
      1;
  if (ceil_mode && (out - 1) * stride >= input + pad) --out;
  return out;
}

PoolGeometry make_pool_geometry(const char* op, const at::Tensor& input, c10::IntArrayRef kernel_size,
                                c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation,
                                bool ceil_mode) {
  TORCH_CHECK(input.defined(), op, ": input is an undefined tensor");
  TORCH_CHECK(input.dim() == 3 || input.dim() == 4, op,
              ": expected a 3D (C, H, W) or 4D (N, C, H, W) input, got ", input.dim(), "D input of shape ",
              input.sizes());
  TORCH_CHECK(at::isFloatingType(input.scalar_type()), op,
              ": expected a floating point input (Half, BFloat16, Float or Double), got ",
              input.scalar_type());
  for (int64_t d = input.dim() - 3; d < input.dim(); ++d) {
    if (d == input.dim() - 3 && input.dim() == 4) continue;  // batch may be empty
    TORCH_CHECK(input.size(d) > 0, op, ": expected input with non-zero channel and spatial sizes, got shape ",
                input.sizes());
  }
  PoolGeometry g;
  std::tie(g.kernel_h, g.kernel_w) = pair_arg(op, "kernel_size", kernel_size, {});
  std::tie(g.stride_h, g.stride_w) = pair_arg(op, "stride", stride, kernel_size);
  std::tie(g.pad_h, g.pad_w) = pair_arg(op, "padding", padding, {});
  std::tie(g.dilation_h, g.dilation_w) = pair_arg(op, "dilation", dilation, {});
  g.ceil_mode = ceil_mode;
  TORCH_CHECK(g.kernel_h > 0 && g.kernel_w > 0, op, ": kernel_size must be greater than zero, got (",
              g.kernel_h, ", ", g.kernel_w, ")");
  TORCH_CHECK(g.stride_h > 0 && g.stride_w > 0, op, ": stride must be greater than zero, got (", g.stride_h,
              ", ", g.stride_w, ")");
  TORCH_CHECK(g.dilation_h > 0 && g.dilation_w > 0, op, ": dilation must be greater than zero, got (",
              g.dilation_h, ", ", g.dilation_w, ")");
  TORCH_CHECK(g.pad_h >= 0 && g.pad_w >= 0, op, ": padding must be non-negative, got (", g.pad_h, ", ",
              g.pad_w, ")");
  TORCH_CHECK(g.kernel_h / 2 >= g.pad_h && g.kernel_w / 2 >= g.pad_w, op,
              ": pad should be at most half of effective kernel size, but got pad=(", g.pad_h, ", ", g.pad_w,
              "), kernel_size=(", g.kernel_h, ", ", g.kernel_w, ") and dilation=(", g.dilation_h, ", ",
              g.dilation_w, ")");
  g.input_h = input.size(-2);
  g.input_w = input.size(-1);
  g.output_h = pooling_output_size(g.input_h, g.kernel_h, g.pad_h, g.stride_h, g.dilation_h, ceil_mode);
  g.output_w = pooling_output_size(g.input_w, g.kernel_w, g.pad_w, g.stride_w, g.dilation_w, ceil_mode);
  TORCH_CHECK(g.output_h >= 1 && g.output_w >= 1, op, ": given input size (", input.size(-3), "x", g.input_h,
              "x", g.input_w, "), calculated output size (", input.size(-3), "x", g.output_h, "x", g.output_w,
              ") is too small");
  return g;
}

}  // namespace tiebreak::ops
