// CUDA kernels of NormPool (L2 pooling, see ops/kernels.h for the contract).
//
// Forward: one thread per output element, sqrt of the op-math sum of squares
// over the window (rows, then columns). Backward: one thread per input element
// gathers g_w·x/out_w from the windows that contain it, in output order, so the
// result is deterministic (the same order as the CPU kernel).

#include "ops/cuda/pool_cuda_utils.cuh"
#include "ops/kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

namespace tiebreak::ops {
namespace {

using namespace cuda_detail;

template <typename scalar_t, typename index_t, bool kChannelsLast>
__global__ void norm_pool2d_forward_kernel(const scalar_t* __restrict__ input, scalar_t* __restrict__ output,
                                           int64_t count, index_t channels, index_t in_h, index_t in_w,
                                           index_t out_h, index_t out_w, AxisGeometry rows,
                                           AxisGeometry cols) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t grid_stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; id < count;
       id += grid_stride) {
    const auto p = decompose<index_t, kChannelsLast>(static_cast<index_t>(id), channels, out_h, out_w);
    const auto plane = plane_address<index_t, kChannelsLast>(p.n, p.c, channels, in_h, in_w);
    const WindowRange hr = window_range(p.h, rows.stride, rows.pad, rows.kernel, rows.dilation, rows.input);
    const WindowRange wr = window_range(p.w, cols.stride, cols.pad, cols.kernel, cols.dilation, cols.input);
    opmath_t sum_sq = 0;
    for (int64_t ih = hr.start; ih < hr.end; ih += rows.dilation) {
      for (int64_t iw = wr.start; iw < wr.end; iw += cols.dilation) {
        const opmath_t x = static_cast<opmath_t>(input[plane.at(static_cast<index_t>(ih * in_w + iw))]);
        sum_sq = add_rn(sum_sq, mul_rn(x, x));
      }
    }
    output[id] = static_cast<scalar_t>(sqrt_rn(sum_sq));
  }
}

template <typename scalar_t, typename index_t, bool kChannelsLast>
__global__ void norm_pool2d_backward_kernel(const scalar_t* __restrict__ grad_output,
                                            const scalar_t* __restrict__ input,
                                            const scalar_t* __restrict__ output,
                                            scalar_t* __restrict__ grad_input, int64_t count,
                                            index_t channels, index_t in_h, index_t in_w, index_t out_h,
                                            index_t out_w, AxisGeometry rows, AxisGeometry cols,
                                            at::opmath_type<scalar_t> grad_at_zero) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t grid_stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; id < count;
       id += grid_stride) {
    const auto p = decompose<index_t, kChannelsLast>(static_cast<index_t>(id), channels, in_h, in_w);
    const auto out_plane = plane_address<index_t, kChannelsLast>(p.n, p.c, channels, out_h, out_w);
    const opmath_t x = static_cast<opmath_t>(input[id]);
    opmath_t acc = 0;
    const int64_t oh_end = end_window(p.h, rows);
    const int64_t ow_begin = first_window(p.w, cols);
    const int64_t ow_end = end_window(p.w, cols);
    for (int64_t oh = first_window(p.h, rows); oh < oh_end; ++oh) {
      if (!window_contains(oh, p.h, rows)) continue;
      for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
        if (!window_contains(ow, p.w, cols)) continue;
        const index_t o = out_plane.at(static_cast<index_t>(oh * out_w + ow));
        const opmath_t g = static_cast<opmath_t>(grad_output[o]);
        const opmath_t norm = static_cast<opmath_t>(output[o]);
        // An all-zero window has no gradient; the caller's choice stands in for it.
        acc = add_rn(acc, norm == opmath_t(0) ? mul_rn(grad_at_zero, g) : div_rn(mul_rn(g, x), norm));
      }
    }
    grad_input[id] = static_cast<scalar_t>(acc);
  }
}

}  // namespace

at::Tensor norm_pool2d_forward_cuda(const at::Tensor& input, const PoolGeometry& geometry) {
  constexpr const char* op = "norm_pool2d_forward_cuda";
  check_input(op, input, geometry);
  const c10::cuda::CUDAGuard device_guard(input.device());
  const bool channels_last = is_channels_last(input);
  const c10::MemoryFormat format = memory_format_of(channels_last);
  const at::Tensor in = input.contiguous(format);
  at::Tensor output = at::empty({in.size(0), in.size(1), geometry.output_h, geometry.output_w},
                                in.options().memory_format(format));
  const int64_t count = output.numel();
  if (count == 0) return output;

  const AxisGeometry rows = rows_of(geometry);
  const AxisGeometry cols = cols_of(geometry);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, in.scalar_type(), "norm_pool2d_forward_cuda", [&] {
        dispatch_index_and_layout(
            fits_int32(in.numel(), count), channels_last, [&](auto index_tag, auto layout_tag) {
              using index_t = decltype(index_tag);
              constexpr bool kChannelsLast = decltype(layout_tag)::value;
              norm_pool2d_forward_kernel<scalar_t, index_t, kChannelsLast>
                  <<<grid_for(count), kThreadsPerBlock, 0, stream>>>(
                      in.const_data_ptr<scalar_t>(), output.mutable_data_ptr<scalar_t>(), count,
                      static_cast<index_t>(in.size(1)), static_cast<index_t>(geometry.input_h),
                      static_cast<index_t>(geometry.input_w), static_cast<index_t>(geometry.output_h),
                      static_cast<index_t>(geometry.output_w), rows, cols);
              C10_CUDA_KERNEL_LAUNCH_CHECK();
            });
      });
  return output;
}

at::Tensor norm_pool2d_backward_cuda(const at::Tensor& grad_output, const at::Tensor& input,
                                     const at::Tensor& output, const PoolGeometry& geometry,
                                     double grad_at_zero) {
  constexpr const char* op = "norm_pool2d_backward_cuda";
  check_input(op, input, geometry);
  check_output_shaped(op, "grad_output", grad_output, input, geometry);
  check_output_shaped(op, "output", output, input, geometry);
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type() && output.scalar_type() == input.scalar_type(),
              op, ": expected grad_output and output of dtype ", input.scalar_type(), ", got ",
              grad_output.scalar_type(), " and ", output.scalar_type());
  const c10::cuda::CUDAGuard device_guard(input.device());
  const bool channels_last = is_channels_last(input);
  const c10::MemoryFormat format = memory_format_of(channels_last);
  const at::Tensor in = input.contiguous(format);
  const at::Tensor grad_out = grad_output.contiguous(format);
  const at::Tensor out = output.contiguous(format);
  at::Tensor grad_input = at::empty(in.sizes(), in.options().memory_format(format));
  const int64_t count = grad_input.numel();
  if (count == 0) return grad_input;

  const AxisGeometry rows = rows_of(geometry);
  const AxisGeometry cols = cols_of(geometry);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, in.scalar_type(), "norm_pool2d_backward_cuda", [&] {
        const auto grad_at_zero_op = static_cast<at::opmath_type<scalar_t>>(grad_at_zero);
        dispatch_index_and_layout(
            fits_int32(count, out.numel()), channels_last, [&](auto index_tag, auto layout_tag) {
              using index_t = decltype(index_tag);
              constexpr bool kChannelsLast = decltype(layout_tag)::value;
              norm_pool2d_backward_kernel<scalar_t, index_t, kChannelsLast>
                  <<<grid_for(count), kThreadsPerBlock, 0, stream>>>(
                      grad_out.const_data_ptr<scalar_t>(), in.const_data_ptr<scalar_t>(),
                      out.const_data_ptr<scalar_t>(), grad_input.mutable_data_ptr<scalar_t>(), count,
                      static_cast<index_t>(in.size(1)), static_cast<index_t>(geometry.input_h),
                      static_cast<index_t>(geometry.input_w), static_cast<index_t>(geometry.output_h),
                      static_cast<index_t>(geometry.output_w), rows, cols, grad_at_zero_op);
              C10_CUDA_KERNEL_LAUNCH_CHECK();
            });
      });
  return grad_input;
}

}  // namespace tiebreak::ops
