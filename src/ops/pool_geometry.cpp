#include "ops/pool_geometry.h"

#include <c10/util/Exception.h>

#include <utility>

namespace tiebreak::ops {

namespace {

std::pair<int64_t, int64_t> pair_arg(const char* op, const char* name, c10::IntArrayRef values,
                                     c10::IntArrayRef fallback) {
  if (values.empty()) values = fallback;
  TORCH_CHECK(values.size() == 1 || values.size() == 2, op, ": ", name,
              " must either be a single int, or a tuple of two ints, got ", values.size(), " values");
  return {values[0], values.size() == 1 ? values[0] : values[1]};
}

}  // namespace

PoolArgs parse_pool_args(const char* op, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                         c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode) {
  PoolArgs a;
  std::tie(a.kernel_h, a.kernel_w) = pair_arg(op, "kernel_size", kernel_size, {});
  std::tie(a.stride_h, a.stride_w) = pair_arg(op, "stride", stride, kernel_size);
  std::tie(a.pad_h, a.pad_w) = pair_arg(op, "padding", padding, {});
  std::tie(a.dilation_h, a.dilation_w) = pair_arg(op, "dilation", dilation, {});
  a.ceil_mode = ceil_mode;
  TORCH_CHECK(a.kernel_h > 0 && a.kernel_w > 0, op, ": kernel_size must be greater than zero, got (",
              a.kernel_h, ", ", a.kernel_w, ")");
  TORCH_CHECK(a.stride_h > 0 && a.stride_w > 0, op, ": stride must be greater than zero, got (", a.stride_h,
              ", ", a.stride_w, ")");
  TORCH_CHECK(a.dilation_h > 0 && a.dilation_w > 0, op, ": dilation must be greater than zero, got (",
              a.dilation_h, ", ", a.dilation_w, ")");
  TORCH_CHECK(a.pad_h >= 0 && a.pad_w >= 0, op, ": padding must be non-negative, got (", a.pad_h, ", ",
              a.pad_w, ")");
  TORCH_CHECK(a.kernel_h / 2 >= a.pad_h && a.kernel_w / 2 >= a.pad_w, op,
              ": pad should be at most half of effective kernel size, but got pad=(", a.pad_h, ", ", a.pad_w,
              "), kernel_size=(", a.kernel_h, ", ", a.kernel_w, ") and dilation=(", a.dilation_h, ", ",
              a.dilation_w, ")");
  return a;
}

void check_pool_input(const char* op, const at::Tensor& input) {
  TORCH_CHECK(input.defined(), op, ": input is an undefined tensor");
  const int64_t dim = input.dim();
  // ATen's message for both wrong ranks and zero-size dimensions (C = 0 included).
  bool sizes_ok = dim == 3 || dim == 4;
  for (int64_t d = dim == 4 ? 1 : 0; sizes_ok && d < dim; ++d) sizes_ok = input.sym_size(d) != 0;
  TORCH_CHECK(sizes_ok, op,
              ": Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, i.e. a 3D "
              "(C, H, W) or 4D (N, C, H, W) input with non-zero C, H and W, but got: ",
              input.sym_sizes());
  TORCH_CHECK(at::isFloatingType(input.scalar_type()), op,
              ": expected a floating point input (Half, BFloat16, Float or Double), got ",
              input.scalar_type());
}

std::vector<c10::SymInt> pooled_sym_sizes(const char* op, const at::Tensor& input, const PoolArgs& a) {
  const c10::SymInt in_h = input.sym_size(-2);
  const c10::SymInt in_w = input.sym_size(-1);
  const c10::SymInt out_h =
      pooling_output_size<c10::SymInt>(in_h, a.kernel_h, a.pad_h, a.stride_h, a.dilation_h, a.ceil_mode);
  const c10::SymInt out_w =
      pooling_output_size<c10::SymInt>(in_w, a.kernel_w, a.pad_w, a.stride_w, a.dilation_w, a.ceil_mode);
  TORCH_CHECK(out_h >= 1 && out_w >= 1, op, ": given input size (", input.sym_size(-3), "x", in_h, "x", in_w,
              "), calculated output size (", input.sym_size(-3), "x", out_h, "x", out_w, ") is too small");
  std::vector<c10::SymInt> sizes(input.sym_sizes().begin(), input.sym_sizes().end());
  sizes[sizes.size() - 2] = out_h;
  sizes[sizes.size() - 1] = out_w;
  return sizes;
}

PoolGeometry make_pool_geometry(const PoolArgs& args, const at::Tensor& input) {
  PoolGeometry g;
  static_cast<PoolArgs&>(g) = args;
  // Symbolic plane sizes (tracing with dynamic shapes): only the Meta kernel
  // runs, which needs none.
  const auto h = input.sym_size(-2).maybe_as_int();
  const auto w = input.sym_size(-1).maybe_as_int();
  if (!h || !w) return g;
  g.input_h = *h;
  g.input_w = *w;
  g.output_h =
      pooling_output_size<int64_t>(g.input_h, g.kernel_h, g.pad_h, g.stride_h, g.dilation_h, g.ceil_mode);
  g.output_w =
      pooling_output_size<int64_t>(g.input_w, g.kernel_w, g.pad_w, g.stride_w, g.dilation_w, g.ceil_mode);
  return g;
}

c10::MemoryFormat pool_memory_format(const at::Tensor& input) {
  return input.dim() == 4 ? input.suggest_memory_format() : c10::MemoryFormat::Contiguous;
}

void check_like(const char* op, const char* name, const at::Tensor& t, c10::SymIntArrayRef sizes,
                at::ScalarType dtype, const at::Tensor& input) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
  TORCH_CHECK(t.sym_sizes() == sizes, op, ": expected ", name, " of shape ", sizes, ", got ", t.sym_sizes());
  TORCH_CHECK(t.scalar_type() == dtype, op, ": expected ", name, " of dtype ", dtype, ", got ",
              t.scalar_type());
  TORCH_CHECK(t.device() == input.device(), op, ": expected ", name, " on ", input.device(),
              " like the input, got ", t.device());
}

}  // namespace tiebreak::ops
