// CUDA kernels of the β-Jacobian MaxPool (see ops/kernels.h for the contract).
//
// Forward: one thread per output element scans its window exactly as ATen's
// max_pool_forward_nchw does (rows, then columns; `val > max || isnan(val)`),
// and counts the ties in the same pass.
// Backward: one thread per input element gathers from the windows that contain
// it (as ATen's max_pool_backward_nchw), so no atomics and a fixed summation
// order: the result is deterministic, and the order is the one the CPU kernels
// follow (see docs/cuda.md).

#include "ops/cuda/pool_cuda_utils.cuh"
#include "ops/kernels.h"

#include <ATen/Dispatch.h>
#include <ATen/NumericUtils.h>
#include <ATen/OpMathType.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <ATen/cuda/NumericLimits.cuh>

#include <tuple>
#include <vector>

namespace tiebreak::ops {
namespace {

using namespace cuda_detail;

template <typename scalar_t, typename index_t, bool kChannelsLast>
__global__ void max_pool2d_forward_kernel(const scalar_t* __restrict__ input, scalar_t* __restrict__ output,
                                          int64_t* __restrict__ indices, int32_t* __restrict__ ties,
                                          int64_t count, index_t channels, index_t in_h, index_t in_w,
                                          index_t out_h, index_t out_w, AxisGeometry rows, AxisGeometry cols,
                                          bool mixture, at::opmath_type<scalar_t> beta,
                                          at::opmath_type<scalar_t> one_minus_beta) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t grid_stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; id < count;
       id += grid_stride) {
    const auto p = decompose<index_t, kChannelsLast>(static_cast<index_t>(id), channels, out_h, out_w);
    const auto plane = plane_address<index_t, kChannelsLast>(p.n, p.c, channels, in_h, in_w);
    const WindowRange hr = window_range(p.h, rows.stride, rows.pad, rows.kernel, rows.dilation, rows.input);
    const WindowRange wr = window_range(p.w, cols.stride, cols.pad, cols.kernel, cols.dilation, cols.input);

    // ATen's selection rule: first maximum wins, a NaN always takes over (so the
    // last NaN wins). A NaN window has the single tie i*.
    int64_t max_index = hr.start * in_w + wr.start;
    opmath_t max_value = at::numeric_limits<opmath_t>::lower_bound();
    int32_t tie_count = 0;
    for (int64_t ih = hr.start; ih < hr.end; ih += rows.dilation) {
      for (int64_t iw = wr.start; iw < wr.end; iw += cols.dilation) {
        const int64_t flat = ih * in_w + iw;
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

    const scalar_t m = static_cast<scalar_t>(max_value);
    scalar_t out = m;
    if (mixture) {
      // β·MinNormPool(x) + (1−β)·NativePool(x), each product rounded to the dtype
      // as PyTorch's tensor-scalar multiply does, then the dtype sum.
      const scalar_t p1 = static_cast<scalar_t>(mul_rn(beta, static_cast<opmath_t>(m)));
      const scalar_t p2 = static_cast<scalar_t>(mul_rn(one_minus_beta, static_cast<opmath_t>(m)));
      out = static_cast<scalar_t>(add_rn(static_cast<opmath_t>(p1), static_cast<opmath_t>(p2)));
    }
    output[id] = out;
    indices[id] = max_index;
    ties[id] = tie_count;
  }
}

template <typename scalar_t, typename index_t, bool kChannelsLast, bool kMixture>
__global__ void max_pool2d_backward_kernel(
    const scalar_t* __restrict__ grad_output, const scalar_t* __restrict__ input,
    const int64_t* __restrict__ indices, const int32_t* __restrict__ ties, scalar_t* __restrict__ grad_input,
    int64_t count, index_t channels, index_t in_h, index_t in_w, index_t out_h, index_t out_w,
    AxisGeometry rows, AxisGeometry cols, double pure_beta, at::opmath_type<scalar_t> beta,
    at::opmath_type<scalar_t> one_minus_beta) {
  using opmath_t = at::opmath_type<scalar_t>;
  const int64_t grid_stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; id < count;
       id += grid_stride) {
    const auto p = decompose<index_t, kChannelsLast>(static_cast<index_t>(id), channels, in_h, in_w);
    const auto in_plane = plane_address<index_t, kChannelsLast>(p.n, p.c, channels, in_h, in_w);
    const auto out_plane = plane_address<index_t, kChannelsLast>(p.n, p.c, channels, out_h, out_w);
    const int64_t flat = static_cast<int64_t>(p.h) * in_w + p.w;
    const opmath_t x = static_cast<opmath_t>(input[id]);

    // Pure: one op-math accumulator. Mixture: the two autograd branches (tie
    // share A, native B) are separate tensors in PyTorch, each rounded to the
    // dtype before their sum.
    opmath_t acc = 0;
    opmath_t acc_ties = 0;
    opmath_t acc_native = 0;

    const int64_t oh_end = end_window(p.h, rows);
    const int64_t ow_begin = first_window(p.w, cols);
    const int64_t ow_end = end_window(p.w, cols);
    for (int64_t oh = first_window(p.h, rows); oh < oh_end; ++oh) {
      if (!window_contains(oh, p.h, rows)) continue;
      for (int64_t ow = ow_begin; ow < ow_end; ++ow) {
        if (!window_contains(ow, p.w, cols)) continue;
        const index_t o = out_plane.at(static_cast<index_t>(oh * out_w + ow));
        const int64_t argmax = indices[o];
        const int32_t t = ties[o];
        const bool is_argmax = argmax == flat;
        // t == 1 (NaN windows included): the tie set is {i*}. Otherwise the ties
        // are the positions equal to the window maximum m_w = input[i*_w].
        const bool is_tie =
            t == 1 ? is_argmax : x == static_cast<opmath_t>(input[in_plane.at(static_cast<index_t>(argmax))]);
        if (!is_tie && !is_argmax) continue;
        const opmath_t g = static_cast<opmath_t>(grad_output[o]);
        if constexpr (!kMixture) {
          if (t == 1) {
            acc = add_rn(acc, g);  // β·g + (1−β)·g, exactly
          } else {
            // The J_β entry (β/t, plus 1−β at i*) formed in double, then one
            // product, exactly as the CPU kernel forms it; a zero entry adds
            // nothing, so an inf gradient never leaks into unconnected positions.
            const double entry = pure_beta / t + (is_argmax ? 1.0 - pure_beta : 0.0);
            const auto share = static_cast<opmath_t>(entry);
            if (share != 0) acc = add_rn(acc, mul_rn(share, g));
          }
        } else {
          if (is_tie) {
            const scalar_t g_beta = static_cast<scalar_t>(mul_rn(beta, g));
            const scalar_t share =
                static_cast<scalar_t>(div_rn(static_cast<opmath_t>(g_beta), static_cast<opmath_t>(t)));
            acc_ties = add_rn(acc_ties, static_cast<opmath_t>(share));
          }
          if (is_argmax) {
            const scalar_t g_native = static_cast<scalar_t>(mul_rn(one_minus_beta, g));
            acc_native = add_rn(acc_native, static_cast<opmath_t>(g_native));
          }
        }
      }
    }
    if constexpr (!kMixture) {
      grad_input[id] = static_cast<scalar_t>(acc);
    } else {
      const scalar_t a = static_cast<scalar_t>(acc_ties);
      const scalar_t b = static_cast<scalar_t>(acc_native);
      grad_input[id] = static_cast<scalar_t>(add_rn(static_cast<opmath_t>(a), static_cast<opmath_t>(b)));
    }
  }
}

/// A Python-float scalar as ATen's CUDA binary kernels apply it to a tensor of
/// `scalar_t`: TensorIterator first casts the CPU scalar to the tensor's dtype
/// (so β = 0.1 becomes half(0.1) in fp16), then computes in op-math. ATen's CPU
/// kernels keep the unrounded value (original_scalar_value), which is why the
/// CPU mixture kernel differs here: each reproduces PyTorch on its device.
template <typename scalar_t>
at::opmath_type<scalar_t> mixture_coefficient(double value) {
  return static_cast<at::opmath_type<scalar_t>>(static_cast<scalar_t>(value));
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> max_pool2d_forward_cuda(const at::Tensor& input,
                                                                       const PoolGeometry& geometry,
                                                                       double beta,
                                                                       PoolFormulation formulation) {
  constexpr const char* op = "max_pool2d_forward_cuda";
  check_input(op, input, geometry);
  const c10::cuda::CUDAGuard device_guard(input.device());
  const bool channels_last = is_channels_last(input);
  const c10::MemoryFormat format = memory_format_of(channels_last);
  const at::Tensor in = input.contiguous(format);
  const int64_t batch = in.size(0);
  const int64_t channels = in.size(1);
  const std::vector<int64_t> out_sizes{batch, channels, geometry.output_h, geometry.output_w};
  at::Tensor output = at::empty(out_sizes, in.options().memory_format(format));
  at::Tensor indices = at::empty(out_sizes, in.options().dtype(at::kLong).memory_format(format));
  at::Tensor ties = at::empty(out_sizes, in.options().dtype(at::kInt).memory_format(format));
  const int64_t count = output.numel();
  if (count == 0) return {output, indices, ties};

  const bool mixture = formulation == PoolFormulation::Mixture;
  const AxisGeometry rows = rows_of(geometry);
  const AxisGeometry cols = cols_of(geometry);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, in.scalar_type(), "max_pool2d_forward_cuda", [&] {
    using opmath_t = at::opmath_type<scalar_t>;
    const auto beta_op = mixture_coefficient<scalar_t>(beta);
    const auto one_minus_beta_op = mixture_coefficient<scalar_t>(1.0 - beta);
    dispatch_index_and_layout(
        fits_int32(in.numel(), count), channels_last, [&](auto index_tag, auto layout_tag) {
          using index_t = decltype(index_tag);
          constexpr bool kChannelsLast = decltype(layout_tag)::value;
          max_pool2d_forward_kernel<scalar_t, index_t, kChannelsLast>
              <<<grid_for(count), kThreadsPerBlock, 0, stream>>>(
                  in.const_data_ptr<scalar_t>(), output.mutable_data_ptr<scalar_t>(),
                  indices.mutable_data_ptr<int64_t>(), ties.mutable_data_ptr<int32_t>(), count,
                  static_cast<index_t>(channels), static_cast<index_t>(geometry.input_h),
                  static_cast<index_t>(geometry.input_w), static_cast<index_t>(geometry.output_h),
                  static_cast<index_t>(geometry.output_w), rows, cols, mixture, beta_op, one_minus_beta_op);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        });
  });
  return {output, indices, ties};
}

at::Tensor max_pool2d_backward_cuda(const at::Tensor& grad_output, const at::Tensor& input,
                                    const at::Tensor& indices, const at::Tensor& ties,
                                    const PoolGeometry& geometry, double beta, PoolFormulation formulation) {
  constexpr const char* op = "max_pool2d_backward_cuda";
  check_input(op, input, geometry);
  check_output_shaped(op, "grad_output", grad_output, input, geometry);
  check_output_shaped(op, "indices", indices, input, geometry);
  check_output_shaped(op, "ties", ties, input, geometry);
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(), op, ": expected grad_output of dtype ",
              input.scalar_type(), ", got ", grad_output.scalar_type());
  TORCH_CHECK(indices.scalar_type() == at::kLong, op, ": expected int64 indices, got ",
              indices.scalar_type());
  TORCH_CHECK(ties.scalar_type() == at::kInt, op, ": expected int32 ties, got ", ties.scalar_type());
  const c10::cuda::CUDAGuard device_guard(input.device());
  const bool channels_last = is_channels_last(input);
  const c10::MemoryFormat format = memory_format_of(channels_last);
  const at::Tensor in = input.contiguous(format);
  const at::Tensor grad_out = grad_output.contiguous(format);
  const at::Tensor idx = indices.contiguous(format);
  const at::Tensor tie_counts = ties.contiguous(format);
  at::Tensor grad_input = at::empty(in.sizes(), in.options().memory_format(format));
  const int64_t count = grad_input.numel();
  if (count == 0) return grad_input;

  const AxisGeometry rows = rows_of(geometry);
  const AxisGeometry cols = cols_of(geometry);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const bool mixture = formulation == PoolFormulation::Mixture;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, in.scalar_type(), "max_pool2d_backward_cuda", [&] {
        const auto beta_op = mixture_coefficient<scalar_t>(beta);
        const auto one_minus_beta_op = mixture_coefficient<scalar_t>(1.0 - beta);
        dispatch_index_and_layout(
            fits_int32(count, grad_out.numel()), channels_last, [&](auto index_tag, auto layout_tag) {
              using index_t = decltype(index_tag);
              constexpr bool kChannelsLast = decltype(layout_tag)::value;
              auto launch = [&](auto kernel) {
                kernel<<<grid_for(count), kThreadsPerBlock, 0, stream>>>(
                    grad_out.const_data_ptr<scalar_t>(), in.const_data_ptr<scalar_t>(),
                    idx.const_data_ptr<int64_t>(), tie_counts.const_data_ptr<int32_t>(),
                    grad_input.mutable_data_ptr<scalar_t>(), count, static_cast<index_t>(in.size(1)),
                    static_cast<index_t>(geometry.input_h), static_cast<index_t>(geometry.input_w),
                    static_cast<index_t>(geometry.output_h), static_cast<index_t>(geometry.output_w), rows,
                    cols, beta, beta_op, one_minus_beta_op);
                C10_CUDA_KERNEL_LAUNCH_CHECK();
              };
              if (mixture) {
                launch(max_pool2d_backward_kernel<scalar_t, index_t, kChannelsLast, true>);
              } else {
                launch(max_pool2d_backward_kernel<scalar_t, index_t, kChannelsLast, false>);
              }
            });
      });
  return grad_input;
}

}  // namespace tiebreak::ops
