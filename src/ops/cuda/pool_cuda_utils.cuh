#pragma once
// Helpers shared by the CUDA pooling kernels (private to src/ops/cuda/).
//
// Bit-for-bit agreement with the CPU kernels needs two things CUDA does not give
// by default: every op-math product/sum must be rounded on its own (nvcc would
// otherwise contract a*b+c into one fused multiply-add, which the CPU kernels
// never do), and the windows covering an input element must be visited in the
// same order (output rows, then columns) as the CPU kernels accumulate them.

#include "ops/pool_geometry.h"

#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/core/MemoryFormat.h>
#include <c10/macros/Macros.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace tiebreak::ops::cuda_detail {

// ---------------------------------------------------------------------------
// Individually rounded op-math arithmetic (never fused into an FMA).

__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float div_rn(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double div_rn(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float sqrt_rn(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double sqrt_rn(double a) { return __dsqrt_rn(a); }

// ---------------------------------------------------------------------------
// Addressing of one (n, c) plane in NCHW or NHWC storage.
//
// A thread handles one element of an output- or input-shaped tensor; its linear
// id is that element's offset in memory (the tensors are made dense in the
// chosen memory format), so consecutive threads touch consecutive addresses:
// w fastest for NCHW, c fastest for NHWC.

template <typename index_t>
struct PlaneCoord {
  index_t n, c, h, w;
};

template <typename index_t, bool kChannelsLast>
__device__ __forceinline__ PlaneCoord<index_t> decompose(index_t id, index_t channels, index_t height,
                                                         index_t width) {
  PlaneCoord<index_t> p;
  if constexpr (kChannelsLast) {
    p.c = id % channels;
    id /= channels;
    p.w = id % width;
    id /= width;
    p.h = id % height;
    p.n = id / height;
  } else {
    p.w = id % width;
    id /= width;
    p.h = id % height;
    id /= height;
    p.c = id % channels;
    p.n = id / channels;
  }
  return p;
}

/// Offset of the plane's element (0, 0) and the distance between two spatially
/// adjacent elements of the plane: element (h, w) lives at base + (h * W + w) * step.
template <typename index_t>
struct PlaneAddress {
  index_t base;
  index_t step;
  __device__ __forceinline__ index_t at(index_t flat_hw) const { return base + flat_hw * step; }
};

template <typename index_t, bool kChannelsLast>
__device__ __forceinline__ PlaneAddress<index_t> plane_address(index_t n, index_t c, index_t channels,
                                                               index_t height, index_t width) {
  if constexpr (kChannelsLast) {
    return {n * height * width * channels + c, channels};
  } else {
    return {(n * channels + c) * height * width, 1};
  }
}

// ---------------------------------------------------------------------------
// The windows that contain an input row (or column) `i`: a superset range from
// the window arithmetic, then an exact membership test through window_range so
// that clipping, ceil_mode and dilation match the forward pass exactly.

struct AxisGeometry {
  int64_t stride, pad, kernel, dilation, input, output;
};

/// First output position whose window span can reach input position i.
__device__ __forceinline__ int64_t first_window(int64_t i, const AxisGeometry& a) {
  const int64_t lo = i + a.pad - (a.kernel - 1) * a.dilation;
  return lo <= 0 ? 0 : (lo + a.stride - 1) / a.stride;
}

/// One past the last output position whose window span can reach input position i.
__device__ __forceinline__ int64_t end_window(int64_t i, const AxisGeometry& a) {
  const int64_t last = (i + a.pad) / a.stride;
  return last + 1 < a.output ? last + 1 : a.output;
}

/// Whether input position i is one of the taps of window o (after clipping).
__device__ __forceinline__ bool window_contains(int64_t o, int64_t i, const AxisGeometry& a) {
  const WindowRange r = window_range(o, a.stride, a.pad, a.kernel, a.dilation, a.input);
  // Skip the (64-bit, slow) modulo in the common undilated case.
  return i >= r.start && i < r.end && (a.dilation == 1 || (i - r.start) % a.dilation == 0);
}

inline AxisGeometry rows_of(const PoolGeometry& g) {
  return {g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.input_h, g.output_h};
}
inline AxisGeometry cols_of(const PoolGeometry& g) {
  return {g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.input_w, g.output_w};
}

// ---------------------------------------------------------------------------
// Launch helpers.

constexpr int kThreadsPerBlock = 256;

/// Grid for a grid-stride loop over `count` elements (count > 0).
inline dim3 grid_for(int64_t count) {
  const int64_t blocks = (count + kThreadsPerBlock - 1) / kThreadsPerBlock;
  const int64_t max_blocks = static_cast<int64_t>(std::numeric_limits<int32_t>::max());
  return dim3(static_cast<unsigned int>(std::min(blocks, max_blocks)));
}

/// 32-bit index arithmetic is enough when every tensor the kernel addresses has
/// fewer than 2^31 elements (int64 division is several times slower on GPUs).
inline bool fits_int32(int64_t numel_a, int64_t numel_b) {
  const int64_t limit = std::numeric_limits<int32_t>::max();
  return numel_a <= limit && numel_b <= limit;
}

/// NHWC when the input is channels_last, NCHW otherwise (as ATen's max_pool2d).
inline bool is_channels_last(const at::Tensor& input) {
  return input.suggest_memory_format() == c10::MemoryFormat::ChannelsLast;
}

inline c10::MemoryFormat memory_format_of(bool channels_last) {
  return channels_last ? c10::MemoryFormat::ChannelsLast : c10::MemoryFormat::Contiguous;
}

/// Calls fn(index_tag, layout_tag) with index_tag an int32_t or int64_t value and
/// layout_tag std::true_type for NHWC, so each kernel is instantiated once per
/// (index type, layout) and chosen at run time.
template <typename Fn>
void dispatch_index_and_layout(bool use_int32, bool channels_last, const Fn& fn) {
  if (use_int32) {
    if (channels_last) {
      fn(int32_t{}, std::true_type{});
    } else {
      fn(int32_t{}, std::false_type{});
    }
  } else {
    if (channels_last) {
      fn(int64_t{}, std::true_type{});
    } else {
      fn(int64_t{}, std::false_type{});
    }
  }
}

/// Checks that a tensor handed to a backward kernel has the output's shape.
inline void check_output_shaped(const char* op, const char* name, const at::Tensor& t,
                                const at::Tensor& input, const PoolGeometry& g) {
  TORCH_CHECK(t.dim() == 4 && t.size(0) == input.size(0) && t.size(1) == input.size(1) &&
                  t.size(2) == g.output_h && t.size(3) == g.output_w,
              op, ": expected ", name, " of shape [", input.size(0), ", ", input.size(1), ", ", g.output_h,
              ", ", g.output_w, "], got ", t.sizes());
  TORCH_CHECK(t.device() == input.device(), op, ": expected ", name, " on ", input.device(), ", got ",
              t.device());
}

/// The kernels read the input through the geometry: both must describe the same tensor.
inline void check_input(const char* op, const at::Tensor& input, const PoolGeometry& g) {
  TORCH_CHECK(input.is_cuda(), op, ": expected a CUDA input, got one on ", input.device());
  TORCH_CHECK(input.dim() == 4, op, ": expected a 4-D input, got shape ", input.sizes());
  TORCH_INTERNAL_ASSERT(input.size(2) == g.input_h && input.size(3) == g.input_w, op,
                        ": pool geometry describes a ", g.input_h, "x", g.input_w, " input, got shape ",
                        input.sizes());
}

}  // namespace tiebreak::ops::cuda_detail
