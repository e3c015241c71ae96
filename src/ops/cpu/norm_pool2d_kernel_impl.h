#pragma once
// NormPool (L2 pooling) CPU kernels, compiled once per CPU capability as the
// MaxPool ones (see max_pool2d_kernel_impl.h). The arithmetic and the orders
// of summation are ops/norm_pool2d_math.h's; here only the windows are
// enumerated (forward: row-major window positions; backward: each input
// element gathers its covering windows in row-major window order).

#include "ops/cpu/kernel_builds.h"
#include "ops/norm_pool2d_math.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#ifndef TIEBREAK_CPU_CAPABILITY
#error "define TIEBREAK_CPU_CAPABILITY before including norm_pool2d_kernel_impl.h"
#endif

namespace tiebreak::ops::TIEBREAK_CPU_CAPABILITY {

namespace {

/// Windows o along one axis whose clipped range covers input index i
/// (stride s, padding p, kernel k, dilation 1): o·s − p ≤ i < o·s − p + k.
struct CoveringWindows {
  int64_t first;
  int64_t last;  // inclusive; first > last when none
};

inline CoveringWindows covering_windows(int64_t i, int64_t stride, int64_t pad, int64_t kernel,
                                        int64_t outputs) {
  const int64_t lo_num = i + pad - kernel + 1;  // o ≥ ceil(lo_num / s)
  int64_t first = lo_num <= 0 ? 0 : (lo_num + stride - 1) / stride;
  int64_t last = std::min((i + pad) / stride, outputs - 1);
  return {first, last};
}

/// Tasks of at least ATen's grain size in element visits.
int64_t grain(int64_t work_per_item) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(1, work_per_item));
}

template <typename scalar_t>
using Math = NormPoolMath<scalar_t>;

/// The norm of one window: `at(ih, iw)` reads its elements.
template <typename scalar_t, typename At>
scalar_t window_norm(const WindowRange& rh, const WindowRange& rw, const At& at) {
  typename Math<scalar_t>::Sum sum;
  for (int64_t ih = rh.start; ih < rh.end; ++ih)
    for (int64_t iw = rw.start; iw < rw.end; ++iw) sum.add(at(ih, iw));
  if (!Math<scalar_t>::needs_scaling(sum)) return Math<scalar_t>::norm(sum);
  typename Math<scalar_t>::ScaledSum scaled(sum.largest);
  for (int64_t ih = rh.start; ih < rh.end; ++ih)
    for (int64_t iw = rw.start; iw < rw.end; ++iw) scaled.add(at(ih, iw));
  return scaled.norm();
}

template <typename scalar_t>
void forward_nchw(const scalar_t* in, scalar_t* out, int64_t planes, const PoolGeometry& g) {
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  at::parallel_for(0, planes, grain(in_plane), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* x = in + p * in_plane;
      scalar_t* y = out + p * out_plane;
      for (int64_t oh = 0; oh < g.output_h; ++oh) {
        const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, 1, g.input_h);
        for (int64_t ow = 0; ow < g.output_w; ++ow) {
          const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, 1, g.input_w);
          y[oh * g.output_w + ow] =
              window_norm<scalar_t>(rh, rw, [&](int64_t ih, int64_t iw) { return x[ih * g.input_w + iw]; });
        }
      }
    }
  });
}

template <typename scalar_t>
void forward_nhwc(const scalar_t* in, scalar_t* out, int64_t batch, int64_t channels, const PoolGeometry& g) {
  using Sum = typename Math<scalar_t>::Sum;
  const int64_t rows = batch * g.output_h * g.output_w;
  at::parallel_for(0, rows, grain(channels * g.kernel_h * g.kernel_w), [&](int64_t begin, int64_t end) {
    std::vector<Sum> sums(channels);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t ow = r % g.output_w;
      const int64_t oh = (r / g.output_w) % g.output_h;
      const int64_t n = r / (g.output_w * g.output_h);
      const auto rh = window_range(oh, g.stride_h, g.pad_h, g.kernel_h, 1, g.input_h);
      const auto rw = window_range(ow, g.stride_w, g.pad_w, g.kernel_w, 1, g.input_w);
      auto element = [&](int64_t ih, int64_t iw) {
        return in + ((n * g.input_h + ih) * g.input_w + iw) * channels;
      };
      std::fill(sums.begin(), sums.end(), Sum{});
      for (int64_t ih = rh.start; ih < rh.end; ++ih) {
        for (int64_t iw = rw.start; iw < rw.end; ++iw) {
          const scalar_t* x = element(ih, iw);
          for (int64_t c = 0; c < channels; ++c) sums[c].add(x[c]);
        }
      }
      scalar_t* y = out + r * channels;
      for (int64_t c = 0; c < channels; ++c) {
        if (!Math<scalar_t>::needs_scaling(sums[c])) {
          y[c] = Math<scalar_t>::norm(sums[c]);
        } else {
          y[c] = window_norm<scalar_t>(rh, rw, [&](int64_t ih, int64_t iw) { return element(ih, iw)[c]; });
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_nchw(const scalar_t* grad_out, const scalar_t* in, const scalar_t* out, scalar_t* grad_in,
                   int64_t planes, const PoolGeometry& g, double grad_at_zero) {
  using opmath_t = at::opmath_type<scalar_t>;
  const auto gaz = static_cast<opmath_t>(grad_at_zero);
  const int64_t in_plane = g.input_h * g.input_w;
  const int64_t out_plane = g.output_h * g.output_w;
  at::parallel_for(0, planes, grain(in_plane), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const scalar_t* x = in + p * in_plane;
      const scalar_t* y = out + p * out_plane;
      const scalar_t* gy = grad_out + p * out_plane;
      scalar_t* gx = grad_in + p * in_plane;
      for (int64_t ih = 0; ih < g.input_h; ++ih) {
        const auto wh = covering_windows(ih, g.stride_h, g.pad_h, g.kernel_h, g.output_h);
        for (int64_t iw = 0; iw < g.input_w; ++iw) {
          const auto ww = covering_windows(iw, g.stride_w, g.pad_w, g.kernel_w, g.output_w);
          const scalar_t xv = x[ih * g.input_w + iw];
          opmath_t acc = 0;
          for (int64_t oh = wh.first; oh <= wh.last; ++oh) {
            for (int64_t ow = ww.first; ow <= ww.last; ++ow) {
              const int64_t o = oh * g.output_w + ow;
              acc += Math<scalar_t>::window_gradient(xv, y[o], gy[o], gaz);
            }
          }
          gx[ih * g.input_w + iw] = static_cast<scalar_t>(acc);
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_nhwc(const scalar_t* grad_out, const scalar_t* in, const scalar_t* out, scalar_t* grad_in,
                   int64_t batch, int64_t channels, const PoolGeometry& g, double grad_at_zero) {
  using opmath_t = at::opmath_type<scalar_t>;
  const auto gaz = static_cast<opmath_t>(grad_at_zero);
  const int64_t positions = batch * g.input_h * g.input_w;
  at::parallel_for(0, positions, grain(channels * g.kernel_h * g.kernel_w), [&](int64_t begin, int64_t end) {
    std::vector<opmath_t> acc(channels);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t iw = r % g.input_w;
      const int64_t ih = (r / g.input_w) % g.input_h;
      const int64_t n = r / (g.input_w * g.input_h);
      const auto wh = covering_windows(ih, g.stride_h, g.pad_h, g.kernel_h, g.output_h);
      const auto ww = covering_windows(iw, g.stride_w, g.pad_w, g.kernel_w, g.output_w);
      const scalar_t* x = in + r * channels;
      std::fill(acc.begin(), acc.end(), opmath_t(0));
      for (int64_t oh = wh.first; oh <= wh.last; ++oh) {
        for (int64_t ow = ww.first; ow <= ww.last; ++ow) {
          const int64_t o = ((n * g.output_h + oh) * g.output_w + ow) * channels;
          for (int64_t c = 0; c < channels; ++c) {
            acc[c] += Math<scalar_t>::window_gradient(x[c], out[o + c], grad_out[o + c], gaz);
          }
        }
      }
      scalar_t* gx = grad_in + r * channels;
      for (int64_t c = 0; c < channels; ++c) gx[c] = static_cast<scalar_t>(acc[c]);
    }
  });
}

}  // namespace

void norm_pool2d_forward_kernel(const at::Tensor& input, const at::Tensor& output,
                                const PoolGeometry& geometry) {
  TORCH_INTERNAL_ASSERT(input.dim() == 4 && output.dim() == 4,
                        "norm_pool2d CPU kernel: 4-D tensors expected");
  if (output.numel() == 0) return;
  const auto format = input.suggest_memory_format();
  TORCH_INTERNAL_ASSERT(output.is_contiguous(format));
  const auto x = input.contiguous(format);
  const int64_t batch = x.size(0), channels = x.size(1);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "norm_pool2d_forward_cpu", [&] {
    if (format == at::MemoryFormat::ChannelsLast) {
      forward_nhwc<scalar_t>(x.const_data_ptr<scalar_t>(), output.data_ptr<scalar_t>(), batch, channels,
                             geometry);
    } else {
      forward_nchw<scalar_t>(x.const_data_ptr<scalar_t>(), output.data_ptr<scalar_t>(), batch * channels,
                             geometry);
    }
  });
}

void norm_pool2d_backward_kernel(const at::Tensor& grad_output, const at::Tensor& input,
                                 const at::Tensor& output, const at::Tensor& grad_input,
                                 const PoolGeometry& geometry, double grad_at_zero) {
  TORCH_INTERNAL_ASSERT(input.dim() == 4 && grad_input.dim() == 4,
                        "norm_pool2d CPU kernel: 4-D tensors expected");
  if (grad_input.numel() == 0) return;
  const auto format = input.suggest_memory_format();
  TORCH_INTERNAL_ASSERT(grad_input.is_contiguous(format));
  const auto x = input.contiguous(format);
  const auto y = output.contiguous(format);
  const auto gy = grad_output.contiguous(format);
  const int64_t batch = x.size(0), channels = x.size(1);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "norm_pool2d_backward_cpu", [&] {
    if (format == at::MemoryFormat::ChannelsLast) {
      backward_nhwc<scalar_t>(gy.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                              y.const_data_ptr<scalar_t>(), grad_input.data_ptr<scalar_t>(), batch, channels,
                              geometry, grad_at_zero);
    } else {
      backward_nchw<scalar_t>(gy.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(),
                              y.const_data_ptr<scalar_t>(), grad_input.data_ptr<scalar_t>(), batch * channels,
                              geometry, grad_at_zero);
    }
  });
}

}  // namespace tiebreak::ops::TIEBREAK_CPU_CAPABILITY
