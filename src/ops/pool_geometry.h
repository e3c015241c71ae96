#pragma once
// Window geometry shared by the pooling operators (meta functions, CPU and CUDA
// kernels): the same argument rules, messages, output sizes and window bounds
// as ATen's native max_pool2d, so that "the position native max_pool2d
// selects" means the same window everywhere.

#include <ATen/core/Tensor.h>
#include <c10/core/SymInt.h>
#include <c10/macros/Macros.h>
#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <vector>

namespace tiebreak::ops {

/// The pooling arguments of one call, validated (see `parse_pool_args`).
struct PoolArgs {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  bool ceil_mode = false;

  /// Whether no input element lies in two windows (each element then gets at
  /// most one contribution in the backward pass).
  bool windows_disjoint() const {
    return stride_h >= (kernel_h - 1) * dilation_h + 1 && stride_w >= (kernel_w - 1) * dilation_w + 1;
  }
};

/// PoolArgs plus the plane sizes of one input: what a kernel needs.
struct PoolGeometry : PoolArgs {
  int64_t input_h = 0, input_w = 0;
  int64_t output_h = 0, output_w = 0;
};

/// First/last+1 input rows (or columns) of window `o` along one axis, clipped to
/// the input exactly as ATen's max_pool2d does (padding never wins). With
/// dilation a window can have no tap inside the input: then start >= end.
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

/// Validates the pooling arguments with ATen's rules and messages (`op` names
/// the operator): `kernel_size` 1 or 2 positive entries; `stride` empty (=
/// kernel_size), 1 or 2 positive entries; `padding` 1 or 2 entries, 0 <= pad <=
/// kernel / 2; `dilation` 1 or 2 positive entries. The one place these
/// arguments are checked: the operators' meta functions and the nn modules'
/// options call it.
PoolArgs parse_pool_args(const char* op, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                         c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode);

/// ATen's pooling_output_shape (floor or ceil; in ceil mode the last window
/// must start inside the input or its left padding), for ints and SymInts.
template <typename T>
T pooling_output_size(T input, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation,
                      bool ceil_mode) {
  T numerator = input + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // Rounded toward −inf as ATen's div_rtn: for ints / truncates and % can be
  // negative; for SymInts / is already a floor division and % is non-negative.
  T out = numerator / stride;
  if (numerator % stride < 0) out = out - 1;
  out = out + 1;
  if (ceil_mode && (out - 1) * stride >= input + pad) out = out - 1;
  return out;
}

/// Checks `input` as ATen's max_pool2d does: defined, 3-D (C, H, W) or 4-D
/// (N, C, H, W), floating point, every dimension but the batch non-zero
/// (symbolic sizes allowed).
void check_pool_input(const char* op, const at::Tensor& input);

/// The output sizes (3-D or 4-D like `input`) of pooling `input` with `args`,
/// checked to be at least 1 (symbolic sizes allowed).
std::vector<c10::SymInt> pooled_sym_sizes(const char* op, const at::Tensor& input, const PoolArgs& args);

/// `args` completed with the plane sizes of `input` (computed once, by the
/// operators' meta steps; the plane sizes stay 0 when they are symbolic).
PoolGeometry make_pool_geometry(const PoolArgs& args, const at::Tensor& input);

/// The layout ATen's pooling gives its outputs: channels-last for a 4-D
/// channels-last input, contiguous otherwise.
c10::MemoryFormat pool_memory_format(const at::Tensor& input);

/// `t` as a 4-D (N, C, H, W) tensor: a view with N = 1 for a 3-D one.
inline at::Tensor as_4d(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(0) : t; }

/// Checks that `t` (a backward argument) has `sizes`, `dtype` and `input`'s
/// device; `op` and `name` head the message. Symbolic sizes allowed.
void check_like(const char* op, const char* name, const at::Tensor& t, c10::SymIntArrayRef sizes,
                at::ScalarType dtype, const at::Tensor& input);

}  // namespace tiebreak::ops
