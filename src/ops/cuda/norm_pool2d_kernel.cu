// CUDA kernels of NormPool (L2 pooling), registered for _norm_pool2d_forward
// and _norm_pool2d_backward (the op's meta step validates and allocates; see
// ops/norm_pool2d_dispatch.h). The arithmetic and summation orders are
// ops/norm_pool2d_math.h's, the same as the CPU kernels'.
//
// Forward: one thread per output element. Backward: one thread per input
// element gathers its covering windows in output order: deterministic.

#include "ops/cuda/pool_cuda_utils.cuh"
#include "ops/norm_pool2d_dispatch.h"
#include "ops/norm_pool2d_math.h"

#include <ATen/OpMathType.h>
#include <torch/library.h>

namespace tiebreak::ops {
namespace {

using namespace cuda_detail;

template <typename scalar_t, typename index_t, bool kChannelsLast>
__global__ void norm_pool2d_forward_kernel(const scalar_t* __restrict__ input, scalar_t* __restrict__ output,
                                           int64_t count, PlaneShape<index_t> s) {
  using Math = NormPoolMath<scalar_t>;
  const int64_t grid_stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; id < count;
       id += grid_stride) {
    const auto p = decompose<index_t, kChannelsLast>(static_cast<index_t>(id), s.channels, s.out_h, s.out_w);
    const auto plane = plane_address<index_t, kChannelsLast>(p.n, p.c, s.channels, s.in_h, s.in_w);
    const WindowRange hr = window_range(p.h, s.rows.stride, s.rows.pad, s.rows.kernel, 1, s.rows.input);
    const WindowRange wr = window_range(p.w, s.cols.stride, s.cols.pad, s.cols.kernel, 1, s.cols.input);
    auto at = [&](int64_t ih, int64_t iw) { return input[plane.at(static_cast<index_t>(ih * s.in_w + iw))]; };
    typename Math::Sum sum;
    for (int64_t ih = hr.start; ih < hr.end; ++ih)
      for (int64_t iw = wr.start; iw < wr.end; ++iw) sum.add(at(ih, iw));
    if (!Math::needs_scaling(sum)) {
      output[id] = Math::norm(sum);
    } else {
      typename Math::ScaledSum scaled(sum.largest);
      for (int64_t ih = hr.start; ih < hr.end; ++ih)
        for (int64_t iw = wr.start; iw < wr.end; ++iw) scaled.add(at(ih, iw));
      output[id] = scaled.norm();
    }
  }
}

template <typename scalar_t, typename index_t, bool kChannelsLast>
__global__ void norm_pool2d_backward_kernel(const scalar_t* __restrict__ grad_output,
                                            const scalar_t* __restrict__ input,
                                            const scalar_t* __restrict__ output,
                                            scalar_t* __restrict__ grad_input, int64_t count,
                                            PlaneShape<index_t> s, at::opmath_type<scalar_t> grad_at_zero) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t grid_stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; id < count;
       id += grid_stride) {
    const auto p = decompose<index_t, kChannelsLast>(static_cast<index_t>(id), s.channels, s.in_h, s.in_w);
    const auto out_plane = plane_address<index_t, kChannelsLast>(p.n, p.c, s.channels, s.out_h, s.out_w);
    const scalar_t x = input[id];
    opmath_t acc = 0;
    for_each_covering_window(p.h, p.w, s.rows, s.cols, [&](int64_t oh, int64_t ow) {
      const index_t o = out_plane.at(static_cast<index_t>(oh * s.out_w + ow));
      acc = add_rn(acc, NormPoolMath<scalar_t>::window_gradient(x, output[o], grad_output[o], grad_at_zero));
    });
    grad_input[id] = static_cast<scalar_t>(acc);
  }
}

at::Tensor forward_cuda(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                        c10::IntArrayRef padding, double grad_at_zero) {
  auto m = norm_pool2d_forward_meta(self, kernel_size, stride, padding, grad_at_zero);
  const at::Tensor in = as_4d(self).contiguous(pool_memory_format(as_4d(self)));
  const PoolGeometry& g = m.geometry;
  launch_pool_kernel(
      "norm_pool2d_forward_cuda", in, g, m.result.numel(), in.numel(),
      [&](auto scalar_tag, const auto& shape, auto layout_tag, dim3 grid, cudaStream_t stream) {
        using scalar_t = decltype(scalar_tag);
        using index_t = decltype(shape.channels);
        constexpr bool kChannelsLast = decltype(layout_tag)::value;
        norm_pool2d_forward_kernel<scalar_t, index_t, kChannelsLast><<<grid, kThreadsPerBlock, 0, stream>>>(
            in.const_data_ptr<scalar_t>(), m.result.mutable_data_ptr<scalar_t>(), m.result.numel(), shape);
      });
  return m.result;
}

at::Tensor backward_cuda(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& output,
                         c10::IntArrayRef kernel_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
                         double grad_at_zero) {
  auto m = norm_pool2d_backward_meta(grad_output, self, output, kernel_size, stride, padding, grad_at_zero);
  const auto format = pool_memory_format(as_4d(self));
  const at::Tensor in = as_4d(self).contiguous(format);
  const at::Tensor grad_out = as_4d(grad_output).contiguous(format);
  const at::Tensor out = as_4d(output).contiguous(format);
  const PoolGeometry& g = m.geometry;
  launch_pool_kernel(
      "norm_pool2d_backward_cuda", in, g, in.numel(), in.numel(),
      [&](auto scalar_tag, const auto& shape, auto layout_tag, dim3 grid, cudaStream_t stream) {
        using scalar_t = decltype(scalar_tag);
        using index_t = decltype(shape.channels);
        constexpr bool kChannelsLast = decltype(layout_tag)::value;
        norm_pool2d_backward_kernel<scalar_t, index_t, kChannelsLast><<<grid, kThreadsPerBlock, 0, stream>>>(
            grad_out.const_data_ptr<scalar_t>(), in.const_data_ptr<scalar_t>(),
            out.const_data_ptr<scalar_t>(), m.result.mutable_data_ptr<scalar_t>(), in.numel(), shape,
            static_cast<at::opmath_type<scalar_t>>(grad_at_zero));
      });
  return m.result;
}

}  // namespace
}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, CUDA, m) {
  m.impl("_norm_pool2d_forward", TORCH_FN(tiebreak::ops::forward_cuda));
  m.impl("_norm_pool2d_backward", TORCH_FN(tiebreak::ops::backward_cuda));
}
