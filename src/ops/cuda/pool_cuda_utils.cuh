#pragma once
// Helpers shared by the CUDA pooling kernels (private to src/ops/cuda/).
//
// Bit-for-bit agreement with the CPU kernels needs two things CUDA does not give
// by default: every op-math product/sum rounded on its own (the arithmetic
// comes from ops/max_pool2d_math.h and ops/norm_pool2d_math.h, which use
// ops/rounded_arithmetic.h), and the windows covering an input element visited
// in the same order (output rows, then columns) as the CPU kernels accumulate
// them.

#include "ops/pool_geometry.h"
#include "ops/rounded_arithmetic.h"

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/core/MemoryFormat.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/macros/Macros.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace tiebreak::ops::cuda_detail {

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

/// Calls fn(oh, ow), in output order (rows, then columns, the order the CPU
/// kernels accumulate in), for every window that has input element (h, w) as
/// one of its taps: the gather every backward kernel does.
template <typename Fn>
__device__ __forceinline__ void for_each_covering_window(int64_t h, int64_t w, const AxisGeometry& rows,
                                                         const AxisGeometry& cols, const Fn& fn) {
  const int64_t oh_end = end_window(h, rows);
  const int64_t ow_begin = first_window(w, cols);
  const int64_t ow_end = end_window(w, cols);
  for (int64_t oh = first_window(h, rows); oh < oh_end; ++oh) {
    if (!window_contains(oh, h, rows)) continue;
    for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
      if (window_contains(ow, w, cols)) fn(oh, ow);
    }
  }
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

/// NHWC when the input is channels_last, NCHW otherwise (as ATen's max_pool2d).
inline bool is_channels_last(const at::Tensor& input) {
  return input.suggest_memory_format() == c10::MemoryFormat::ChannelsLast;
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

/// The sizes a pooling kernel addresses a (n, c) plane with.
template <typename index_t>
struct PlaneShape {
  index_t channels, in_h, in_w, out_h, out_w;
  AxisGeometry rows, cols;
};

/// The launch every pooling kernel shares: on `input`'s device and current
/// stream, one thread per element of a `count`-element tensor (grid-stride),
/// instantiated per dtype, index width and layout:
/// `launch(scalar_t{}, PlaneShape<index_t>, layout_tag, grid, stream)` starts
/// the kernel, layout_tag being std::true_type for NHWC. `largest` is the
/// largest element count of the tensors the kernel addresses (32-bit indexing
/// below 2^31, 64-bit above).
template <typename Fn>
void launch_pool_kernel(const char* name, const at::Tensor& input, const PoolGeometry& g, int64_t count,
                        int64_t largest, const Fn& launch) {
  if (count == 0) return;
  TORCH_INTERNAL_ASSERT(input.is_cuda() && input.dim() == 4, name, ": a 4-D CUDA tensor expected");
  const c10::cuda::CUDAGuard device_guard(input.device());
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const bool channels_last = is_channels_last(input);
  const int64_t limit = std::numeric_limits<int32_t>::max();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "tiebreak_pool_cuda", [&] {
    dispatch_index_and_layout(largest <= limit, channels_last, [&](auto index_tag, auto layout_tag) {
      using index_t = decltype(index_tag);
      const PlaneShape<index_t> shape{static_cast<index_t>(input.size(1)),
                                      static_cast<index_t>(g.input_h),
                                      static_cast<index_t>(g.input_w),
                                      static_cast<index_t>(g.output_h),
                                      static_cast<index_t>(g.output_w),
                                      rows_of(g),
                                      cols_of(g)};
      launch(scalar_t{}, shape, layout_tag, grid_for(count), stream);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

}  // namespace tiebreak::ops::cuda_detail
