// CUDA kernels of the β-Jacobian MaxPool, registered for _max_pool2d_forward
// and _max_pool2d_backward (the op's meta step validates and allocates; see
// ops/max_pool2d_dispatch.h). Their arithmetic is ops/max_pool2d_math.h's,
// with CUDA's parameters: β cast to the dtype as ATen's CUDA kernels cast a
// Python scalar, and the mixture's branches gathered in op-math, one rounding
// each, as ATen's CUDA max_pool2d backward gathers.
//
// Forward: one thread per output element scans its window exactly as ATen's
// max_pool_forward_nchw does (rows, then columns; `val > max || isnan(val)`),
// and counts the ties in the same pass.
// Backward: one thread per input element gathers from the windows that contain
// it (as ATen's max_pool_backward_nchw), so no atomics and a fixed summation
// order: deterministic, and the order the CPU kernels follow (docs/cuda.md).

#include "ops/cuda/pool_cuda_utils.cuh"
#include "ops/max_pool2d_dispatch.h"
#include "ops/max_pool2d_math.h"

#include <ATen/NumericUtils.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>
#include <ATen/cuda/NumericLimits.cuh>

#include <tuple>

namespace tiebreak::ops {
namespace {

using namespace cuda_detail;

template <typename scalar_t, typename index_t, bool kChannelsLast>
__global__ void max_pool2d_forward_kernel(const scalar_t* __restrict__ input, scalar_t* __restrict__ output,
                                          int64_t* __restrict__ indices, int32_t* __restrict__ ties,
                                          int64_t count, PlaneShape<index_t> s, MaxPoolJacobian<scalar_t> jac,
                                          bool mixture) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t grid_stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; id < count;
       id += grid_stride) {
    const auto p = decompose<index_t, kChannelsLast>(static_cast<index_t>(id), s.channels, s.out_h, s.out_w);
    const auto plane = plane_address<index_t, kChannelsLast>(p.n, p.c, s.channels, s.in_h, s.in_w);
    const AxisGeometry& rows = s.rows;
    const AxisGeometry& cols = s.cols;
    const WindowRange hr = window_range(p.h, rows.stride, rows.pad, rows.kernel, rows.dilation, rows.input);
    const WindowRange wr = window_range(p.w, cols.stride, cols.pad, cols.kernel, cols.dilation, cols.input);

    // ATen's selection rule: first maximum wins, a NaN always takes over (so the
    // last NaN wins). A NaN window has the single tie i*; a window with no tap
    // inside the input has none.
    int64_t max_index = hr.start * s.in_w + wr.start;
    opmath_t max_value = at::numeric_limits<opmath_t>::lower_bound();
    int32_t tie_count = 0;
    for (int64_t ih = hr.start; ih < hr.end; ih += rows.dilation) {
      for (int64_t iw = wr.start; iw < wr.end; iw += cols.dilation) {
        const int64_t flat = ih * s.in_w + iw;
        const scalar_t raw = input[plane.at(static_cast<index_t>(flat))];
        const opmath_t value = static_cast<opmath_t>(raw);
        if (value > max_value || at::_isnan(raw)) {
          max_index = flat;
          max_value = value;
          tie_count = 1;
        } else if (value == max_value) {
          ++tie_count;
        }
      }
    }
    output[id] = mixture ? jac.mixture_value(max_value) : static_cast<scalar_t>(max_value);
    indices[id] = max_index;
    ties[id] = tie_count;
  }
}

template <typename scalar_t, typename index_t, bool kChannelsLast, bool kMixture>
__global__ void max_pool2d_backward_kernel(const scalar_t* __restrict__ grad_output,
                                           const scalar_t* __restrict__ input,
                                           const int64_t* __restrict__ indices,
                                           const int32_t* __restrict__ ties,
                                           scalar_t* __restrict__ grad_input, int64_t count,
                                           PlaneShape<index_t> s, MaxPoolJacobian<scalar_t> jac) {
  using opmath_t = at::opmath_type<scalar_t>;
  using acc_t = pure_acc_t<scalar_t>;
  const int64_t grid_stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; id < count;
       id += grid_stride) {
    const auto p = decompose<index_t, kChannelsLast>(static_cast<index_t>(id), s.channels, s.in_h, s.in_w);
    const auto in_plane = plane_address<index_t, kChannelsLast>(p.n, p.c, s.channels, s.in_h, s.in_w);
    const auto out_plane = plane_address<index_t, kChannelsLast>(p.n, p.c, s.channels, s.out_h, s.out_w);
    const int64_t flat = static_cast<int64_t>(p.h) * s.in_w + p.w;
    const scalar_t x = input[id];

    // Pure: one accumulator. Mixture: the two autograd branches (min-norm,
    // native), separate tensors in PyTorch, each rounded to the dtype before
    // their sum.
    acc_t acc = 0;
    opmath_t acc_ties = 0;
    opmath_t acc_native = 0;

    for_each_covering_window(p.h, p.w, s.rows, s.cols, [&](int64_t oh, int64_t ow) {
      const index_t o = out_plane.at(static_cast<index_t>(oh * s.out_w + ow));
      const int64_t argmax = indices[o];
      const int32_t t = ties[o];
      const bool is_argmax = argmax == flat;
      // t == 1 (NaN windows included): the tie set is {i*}. Otherwise the ties
      // are the positions equal to the window maximum m_w = input[i*_w].
      const bool is_tie = t == 1
                              ? is_argmax
                              : static_cast<opmath_t>(x) ==
                                    static_cast<opmath_t>(input[in_plane.at(static_cast<index_t>(argmax))]);
      if (!is_tie && !is_argmax) return;
      const opmath_t g = static_cast<opmath_t>(grad_output[o]);
      if constexpr (!kMixture) {
        if (t == 1) {
          acc = add_rn(acc, static_cast<acc_t>(g));
        } else {
          acc = add_rn(acc, jac.pure_contribution(jac.pure_entry(t, is_argmax), g));
        }
      } else {
        if (is_tie) acc_ties = add_rn(acc_ties, static_cast<opmath_t>(jac.mixture_min_share(g, t)));
        if (is_argmax) acc_native = add_rn(acc_native, static_cast<opmath_t>(jac.mixture_native_share(g)));
      }
    });
    if constexpr (!kMixture) {
      grad_input[id] = static_cast<scalar_t>(acc);
    } else {
      grad_input[id] = MaxPoolJacobian<scalar_t>::add_in_dtype(static_cast<scalar_t>(acc_ties),
                                                               static_cast<scalar_t>(acc_native));
    }
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_cuda(const at::Tensor& self,
                                                            c10::IntArrayRef kernel_size,
                                                            c10::IntArrayRef stride, c10::IntArrayRef padding,
                                                            c10::IntArrayRef dilation, bool ceil_mode,
                                                            double beta, c10::string_view formulation) {
  auto m =
      max_pool2d_forward_meta(self, kernel_size, stride, padding, dilation, ceil_mode, beta, formulation);
  const at::Tensor in = as_4d(self).contiguous(pool_memory_format(as_4d(self)));
  const PoolGeometry& g = m.geometry;
  const bool mixture = m.formulation == PoolFormulation::Mixture;
  launch_pool_kernel(
      "max_pool2d_forward_cuda", in, g, m.output.numel(), in.numel(),
      [&](auto scalar_tag, const auto& shape, auto layout_tag, dim3 grid, cudaStream_t stream) {
        using scalar_t = decltype(scalar_tag);
        using index_t = decltype(shape.channels);
        constexpr bool kChannelsLast = decltype(layout_tag)::value;
        max_pool2d_forward_kernel<scalar_t, index_t, kChannelsLast><<<grid, kThreadsPerBlock, 0, stream>>>(
            in.const_data_ptr<scalar_t>(), m.output.mutable_data_ptr<scalar_t>(),
            m.indices.mutable_data_ptr<int64_t>(), m.ties.mutable_data_ptr<int32_t>(), m.output.numel(),
            shape, MaxPoolJacobian<scalar_t>(beta, ScalarRounding::Dtype), mixture);
      });
  return {m.output, m.indices, m.ties};
}

at::Tensor backward_cuda(const at::Tensor& grad_output, const at::Tensor& self, const at::Tensor& indices,
                         const at::Tensor& ties, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                         c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode, double beta,
                         c10::string_view formulation) {
  auto m = max_pool2d_backward_meta(grad_output, self, indices, ties, kernel_size, stride, padding, dilation,
                                    ceil_mode, beta, formulation);
  const auto format = pool_memory_format(as_4d(self));
  const at::Tensor in = as_4d(self).contiguous(format);
  const at::Tensor grad_out = as_4d(grad_output).contiguous(format);
  const at::Tensor idx = as_4d(indices).contiguous(format);
  const at::Tensor tie_counts = as_4d(ties).contiguous(format);
  const PoolGeometry& g = m.geometry;
  const bool mixture = m.formulation == PoolFormulation::Mixture;
  launch_pool_kernel(
      "max_pool2d_backward_cuda", in, g, in.numel(), in.numel(),
      [&](auto scalar_tag, const auto& shape, auto layout_tag, dim3 grid, cudaStream_t stream) {
        using scalar_t = decltype(scalar_tag);
        using index_t = decltype(shape.channels);
        constexpr bool kChannelsLast = decltype(layout_tag)::value;
        auto launch = [&](auto kernel) {
          kernel<<<grid, kThreadsPerBlock, 0, stream>>>(
              grad_out.const_data_ptr<scalar_t>(), in.const_data_ptr<scalar_t>(),
              idx.const_data_ptr<int64_t>(), tie_counts.const_data_ptr<int32_t>(),
              m.grad_input.mutable_data_ptr<scalar_t>(), in.numel(), shape,
              MaxPoolJacobian<scalar_t>(beta, ScalarRounding::Dtype));
        };
        if (mixture) {
          launch(max_pool2d_backward_kernel<scalar_t, index_t, kChannelsLast, true>);
        } else {
          launch(max_pool2d_backward_kernel<scalar_t, index_t, kChannelsLast, false>);
        }
      });
  return m.grad_input;
}

}  // namespace
}  // namespace tiebreak::ops

TORCH_LIBRARY_IMPL(tiebreak, CUDA, m) {
  m.impl("_max_pool2d_forward", TORCH_FN(tiebreak::ops::forward_cuda));
  m.impl("_max_pool2d_backward", TORCH_FN(tiebreak::ops::backward_cuda));
}
